"""Stage 2: a transaction's logs -> the Mirror program's events (the shared IDL codec).

A failed transaction yields nothing (its writes were rolled back, so must ours be).
Only ``Program data:`` lines of the program's own invocation frames count, so events
logged by other programs of the same transaction are ignored. A payload whose
discriminator is unknown, or that does not decode, is kept raw as a skipped item
(an operator sees it in ``skipped_items``) and the event index still counts it, so
indexes stay the same whichever source delivered the transaction.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import structlog

from mirror_common import codec
from mirror_common.logs import LogFormatError, extract_program_data

log = structlog.get_logger("indexer.decode")


@dataclass(slots=True)
class RawTx:
    """A transaction as a source delivered it."""

    signature: str
    slot: int
    err: Any
    logs: list[str] | None
    block_time: int | None = None
    source: str = "live"  # live | backfill


@dataclass(slots=True)
class Event:
    signature: str
    event_index: int
    slot: int
    block_time: int | None
    name: str
    fields: dict[str, Any]
    instruction_index: int
    id: int | None = None  # chain_events.id once stored


@dataclass(slots=True)
class Skip:
    signature: str
    event_index: int
    slot: int
    reason: str  # unknown_discriminator | decode_error | bad_log_line | rpc_unavailable | log_truncated
    detail: str
    raw: str | None = None


@dataclass(slots=True)
class DecodedTx:
    signature: str
    slot: int
    block_time: int | None
    failed: bool
    events: list[Event] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)


def pg_safe(value: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold NUL. The program now refuses control
    characters, but events of older deployments or forged logs may still carry one:
    NUL becomes U+FFFD everywhere we store a decoded value (reconcile applies the
    same rule to accounts)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: pg_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pg_safe(v) for v in value]
    return value


def decode_tx(tx: RawTx, program_id: str, the_codec: codec.Codec | None = None) -> DecodedTx:
    c = the_codec or codec.default_codec()
    out = DecodedTx(tx.signature, tx.slot, tx.block_time, failed=tx.err is not None)
    if out.failed:
        return out
    try:
        found = extract_program_data(tx.logs, program_id)
    except LogFormatError as e:
        log.warning("bad_log_line", signature=tx.signature, error=str(e))
        out.skips.append(Skip(tx.signature, -1, tx.slot, "bad_log_line", str(e)[:500]))
        return out
    if found.truncated:
        log.warning("log_truncated", signature=tx.signature, events_seen=len(found.payloads))
        out.skips.append(
            Skip(
                tx.signature,
                -1,
                tx.slot,
                "log_truncated",
                f"logs cut by the runtime after {len(found.payloads)} events; reconcile repairs the projections",
            )
        )
    for index, p in enumerate(found.payloads):
        try:
            ev = c.decode_event(p.data)
        except codec.UnknownDiscriminator as e:
            log.warning("unknown_event_discriminator", signature=tx.signature, event_index=index, discriminator=e.discriminator.hex())
            out.skips.append(Skip(tx.signature, index, tx.slot, "unknown_discriminator", str(e), base64.b64encode(p.data).decode()))
            continue
        except codec.DecodeError as e:
            log.warning("event_decode_error", signature=tx.signature, event_index=index, error=str(e))
            out.skips.append(Skip(tx.signature, index, tx.slot, "decode_error", str(e)[:500], base64.b64encode(p.data).decode()))
            continue
        # Live notifications carry no block time; every Mirror event carries the Clock's.
        block_time = tx.block_time if tx.block_time is not None else ev.fields.get("timestamp")
        out.events.append(Event(tx.signature, index, tx.slot, block_time, ev.name, pg_safe(ev.fields), p.instruction_index))
    return out
