"""Limits on what one GraphQL document may ask: the query cost estimate (Strawberry has
none), and the masking rule. Depth, alias and token limits are Strawberry's own
extensions, configured in ``schema.py``.

Cost: every field costs 1, times the number of rows its parents may return. A field
that returns a connection (it selects ``edges``) multiplies what is under it by its page
size: ``first``/``last`` when written in the document, the maximum page (100) when it
is a variable, the default page (20) when absent. Fragments are expanded (a cycle, which
validation refuses anyway, is cut). ``mirrors(first: 100) { edges { node { trainingJobs(first: 100) { edges { node { id } } } } } }``
costs about 100 * 100; the default maximum is 50,000.
"""

from __future__ import annotations

from typing import Any

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

from graphql_api.errors import ClientError
from graphql_api.pagination import DEFAULT_PAGE, MAX_PAGE


def _page_size(field: FieldNode) -> int:
    for arg in field.arguments or ():
        if arg.name.value in ("first", "last"):
            if isinstance(arg.value, IntValueNode):
                return max(0, min(int(arg.value.value), MAX_PAGE))
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


def cost(sel: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str] = frozenset()) -> int:
    total = 0
    for s in sel.selections if sel else ():
        if isinstance(s, FieldNode):
            multiplier = _page_size(s) if _selects_edges(s.selection_set, fragments) else 1
            total += 1 + multiplier * cost(s.selection_set, fragments, seen)
        elif isinstance(s, InlineFragmentNode):
            total += cost(s.selection_set, fragments, seen)
        elif isinstance(s, FragmentSpreadNode):
            name = s.name.value
            if name in fragments and name not in seen:
                total += cost(fragments[name].selection_set, fragments, seen | {name})
    return total


def cost_rule(maximum: int) -> type[ValidationRule]:
    class QueryCost(ValidationRule):
        def enter_document(self, node: Any, *_: Any) -> None:
            fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
            for d in node.definitions:
                if isinstance(d, OperationDefinitionNode):
                    estimate = cost(d.selection_set, fragments)
                    if estimate > maximum:
                        self.report_error(GraphQLError(f"query cost {estimate} exceeds the maximum {maximum}; ask for smaller pages", d))

    return QueryCost


def should_mask(error: GraphQLError) -> bool:
    """Errors of the document (parse, validation, a refused value) and ClientErrors are
    the client's to read; everything else (a database error, a bug) is masked."""
    original = error.original_error
    if original is None or isinstance(original, ClientError):
        return False
    return not isinstance(original, GraphQLError)
