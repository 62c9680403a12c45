"""``Program data:`` payloads of one program, from a transaction's log messages.

The runtime logs ``Program <id> invoke [<depth>]`` when a program (top-level or
through CPI) starts and ``Program <id> success`` / ``Program <id> failed: <err>``
when it returns; ``Program data: <base64>...`` (``sol_log_data``, which ``emit!``
uses) belongs to the frame on top of that stack. Tracking the stack keeps events
logged by other programs of the same transaction out. A program cannot forge these
lines: whatever it logs with ``msg!`` is prefixed ``Program log: ``.

When a transaction's logs exceed the runtime's limit, the runtime appends one
``Log truncated`` line and drops everything after it: events may then be missing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from solders.pubkey import Pubkey

__all__ = [
    "LOG_TRUNCATED",
    "LogFormatError",
    "ProgramData",
    "ProgramDataLogs",
    "extract_program_data",
    "is_truncated",
]

LOG_TRUNCATED = "Log truncated"
_PROGRAM = "Program "
_DATA = "Program data: "


class LogFormatError(ValueError):
    """A ``Program data:`` line of the program is not base64."""


@dataclass(frozen=True, slots=True)
class ProgramData:
    """One ``Program data:`` payload (base64-decoded; space-separated parts are concatenated)."""

    data: bytes
    instruction_index: int
    """Top-level instruction (0-based, counted from ``invoke [1]`` lines) that emitted it."""
    depth: int
    """Invocation depth of the emitting frame: 1 top-level, 2+ through CPI."""


@dataclass(frozen=True, slots=True)
class ProgramDataLogs:
    """The program's payloads, in log order (a payload's position is its event index),
    and whether the runtime truncated the log (payloads after the cut are lost)."""

    payloads: tuple[ProgramData, ...]
    truncated: bool

    @property
    def data(self) -> list[bytes]:
        return [p.data for p in self.payloads]


def _decode_data(line: str) -> bytes:
    parts = line[len(_DATA) :].split()
    try:
        return b"".join(base64.b64decode(p, validate=True) for p in parts)
    except (binascii.Error, ValueError) as e:
        raise LogFormatError(f"not base64: {line!r}") from e


def extract_program_data(logs: Iterable[str] | None, program_id: Pubkey | str) -> ProgramDataLogs:
    """The ``Program data:`` payloads emitted by ``program_id``'s own invocation frames."""
    pid = str(program_id)
    stack: list[str] = []
    payloads: list[ProgramData] = []
    truncated = False
    instruction_index = -1
    for line in logs or ():
        if line.startswith(_DATA):
            if stack and stack[-1] == pid:
                payloads.append(ProgramData(_decode_data(line), instruction_index, len(stack)))
            continue
        if line.startswith(LOG_TRUNCATED):
            truncated = True
            continue
        if not line.startswith(_PROGRAM):
            continue
        parts = line[len(_PROGRAM) :].split(" ", 2)
        if len(parts) < 2:
            continue
        program, verb = parts[0], parts[1]
        if verb == "invoke" and len(parts) == 3 and parts[2].startswith("[") and parts[2].endswith("]"):
            try:
                depth = int(parts[2][1:-1])
            except ValueError:
                continue
            if depth < 1:
                continue
            del stack[depth - 1 :]  # resynchronise if a frame's end was not logged
            if depth == 1:
                instruction_index += 1
            stack.append(program)
        elif verb == "success" or verb.startswith("failed"):
            # Pop up to and including the innermost frame of this program.
            for i in range(len(stack) - 1, -1, -1):
                if stack[i] == program:
                    del stack[i:]
                    break
    return ProgramDataLogs(tuple(payloads), truncated)


def is_truncated(logs: Iterable[str] | None) -> bool:
    """Whether the runtime cut these logs short (``Log truncated``)."""
    return any(line.startswith(LOG_TRUNCATED) for line in logs or ())
