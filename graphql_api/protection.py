"""Limits on what one GraphQL document may ask, and the masking rule (``Masking``).

One validation rule (``limits_rule``) measures each operation once: its depth (nested
fields with a selection, ``__`` fields not counted), its aliases and its cost. Fragments are
measured once each and reused, so a "fragment bomb" (fragments that each spread the next
several times) costs time linear in its text; Strawberry's own depth and alias limiters
expand every spread and take exponential time on one.

Cost: every field costs 1, times the number of rows its parents may return. A field
that returns a connection (it selects ``edges``) multiplies what is under it by its page
size: ``first``/``last`` when written in the document, the maximum page (100) when it
is a variable, the default page (20) when absent. Fragments are expanded (a cycle, which
validation refuses anyway, is cut). ``mirrors(first: 100) { edges { node { trainingJobs(first: 100) { edges { node { id } } } } } }``
costs about 100 * 100; the default maximum is 50,000.

Masking: what a client may read (the document's errors, ``ClientError``) goes out as it is;
PostgreSQL out of reach goes out as ``UNAVAILABLE`` with the code ``unavailable`` (worth a
retry, unlike a bug); anything else as "Unexpected error.", logged with the request id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)
from strawberry.extensions import MaskErrors

from graphql_api.errors import ClientError
from graphql_api.pagination import DEFAULT_PAGE, MAX_PAGE
from mirror_common.pg_errors import is_connection_error

log = structlog.get_logger("graphql_api")


def _page_size(field: FieldNode) -> int:
    for arg in field.arguments or ():
        if arg.name.value in ("first", "last"):
            if isinstance(arg.value, IntValueNode):
                # A literal of thousands of digits is past int()'s limit; anything that long is past the maximum page anyway.
                text = arg.value.value
                return MAX_PAGE if len(text) > 6 else max(0, min(int(text), MAX_PAGE))
            if isinstance(arg.value, VariableNode):
                return MAX_PAGE
    return DEFAULT_PAGE


def _selects_edges(sel: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]) -> bool:
    for s in sel.selections if sel else ():
        if isinstance(s, FieldNode) and s.name.value == "edges":
            return True
        if isinstance(s, InlineFragmentNode) and _selects_edges(s.selection_set, fragments):
            return True
        if isinstance(s, FragmentSpreadNode) and s.name.value in fragments and _selects_edges(fragments[s.name.value].selection_set, {}):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Measure:
    cost: int
    depth: int
    aliases: int


_NOTHING = Measure(0, 0, 0)


class _Measurer:
    """Measures selection sets; each fragment once (memoized), a fragment met again inside itself counts nothing."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.done: dict[str, Measure] = {}
        self.open: set[str] = set()

    def fragment(self, name: str) -> Measure:
        if name in self.done:
            return self.done[name]
        if name not in self.fragments or name in self.open:
            return _NOTHING
        self.open.add(name)
        measure = self.selection_set(self.fragments[name].selection_set)
        self.open.discard(name)
        self.done[name] = measure
        return measure

    def selection_set(self, sel: SelectionSetNode | None) -> Measure:
        cost = depth = aliases = 0
        for s in sel.selections if sel else ():
            if isinstance(s, FieldNode):
                inner = self.selection_set(s.selection_set)
                multiplier = _page_size(s) if _selects_edges(s.selection_set, self.fragments) else 1
                cost += 1 + multiplier * inner.cost
                aliases += inner.aliases + (1 if s.alias else 0)
                if s.selection_set is not None and not s.name.value.startswith("__"):
                    depth = max(depth, 1 + inner.depth)
                continue
            if isinstance(s, InlineFragmentNode):
                inner = self.selection_set(s.selection_set)
            elif isinstance(s, FragmentSpreadNode):
                inner = self.fragment(s.name.value)
            else:
                continue
            cost += inner.cost
            aliases += inner.aliases
            depth = max(depth, inner.depth)
        return Measure(cost, depth, aliases)


def limits_rule(max_depth: int, max_aliases: int, max_cost: int) -> type[ValidationRule]:
    class DocumentLimits(ValidationRule):
        def enter_document(self, node: Any, *_: Any) -> None:
            fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
            measurer = _Measurer(fragments)
            aliases = 0
            for d in node.definitions:
                if not isinstance(d, OperationDefinitionNode):
                    continue
                m = measurer.selection_set(d.selection_set)
                aliases += m.aliases
                name = d.name.value if d.name else "anonymous"
                # The depth and alias messages are Strawberry's limiters' own, which these replace.
                if m.depth > max_depth:
                    self.report_error(GraphQLError(f"'{name}' exceeds maximum operation depth of {max_depth}", d))
                if m.cost > max_cost:
                    self.report_error(GraphQLError(f"query cost {m.cost} exceeds the maximum {max_cost}; ask for smaller pages", d))
            if aliases > max_aliases:
                self.report_error(GraphQLError(f"{aliases} aliases found. Allowed: {max_aliases}"))

    return DocumentLimits


UNAVAILABLE = "The database is unavailable; try again shortly."


def should_mask(error: GraphQLError) -> bool:
    """Errors of the document (parse, validation, a refused value) and ClientErrors are
    the client's to read; everything else (the database out of reach, a bug) is masked, and logged here.
    An error without a path is the document's (no resolver ran): e.g. graphql-core refusing an
    Int literal past int()'s 4300 digits carries int()'s ValueError, and is still the client's."""
    original = error.original_error
    if original is None or error.path is None or isinstance(original, ClientError | GraphQLError):
        return False
    if is_connection_error(original):  # an outage, not a bug: one line, no trace
        log.warning("postgres_unavailable", error=f"{type(original).__name__}: {original}", path=error.path)
        return True
    # The client sees "Unexpected error."; the log keeps what it was (with the request id, bound by app.Guard).
    log.error("unexpected_error", error=f"{type(original).__name__}: {original}", path=error.path)
    return True


class Masking(MaskErrors):
    """Strawberry's MaskErrors with ``should_mask``, and a masked error that says what the client can do:
    retry, when the database was out of reach."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if error.original_error is not None and is_connection_error(error.original_error):
            return GraphQLError(UNAVAILABLE, error.nodes, error.source, error.positions, error.path, extensions={"code": "unavailable"})
        return super().anonymise_error(error)
