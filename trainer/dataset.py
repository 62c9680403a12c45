"""What a trainer accepts as a dataset, decided in one place for both sides.

The daemon (trainer.daemon) fails a job whose dataset ``validate_dataset`` refuses
(``DATASET_INVALID``, with ``DatasetError.reason`` logged beside it); the owner's client
(trainer.client) runs the same function on the bytes it is about to seal, so a dataset the trainer
would refuse is refused before the owner pays for a transaction. Hence no torch here: the client
runs on an owner's laptop.
"""

from __future__ import annotations

MIN_DATASET_BYTES = 2  # one input byte and its target: windows shrink to fit a short dataset
CONTROL_BYTES = bytes(b for b in [*range(32), 127] if chr(b) not in "\t\n\r\f\v")
MAX_CONTROL_PERCENT = 1
REASONS = ("empty", "too_large", "too_short", "not_utf8", "not_text")


class DatasetError(ValueError):
    """A dataset that cannot be trained on. ``reason``: one of ``REASONS``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode_text(data: bytes) -> str:
    """``data`` as UTF-8 text, or ``DatasetError("not_utf8")`` naming the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError("not_utf8", f"invalid UTF-8 at byte {e.start}") from None


def validate_dataset(data: bytes, max_size: int) -> str:
    """The dataset as text, or ``DatasetError``. Text: UTF-8 with no NUL and at most 1% other
    control characters (tab, newlines and form feeds are text), so binary files that happen to
    decode are still refused."""
    if len(data) == 0:
        raise DatasetError("empty", "the dataset has no bytes")
    if len(data) > max_size:
        raise DatasetError("too_large", f"{len(data)} bytes exceed {max_size}")
    if len(data) < MIN_DATASET_BYTES:
        raise DatasetError("too_short", f"{len(data)} bytes: at least {MIN_DATASET_BYTES} are needed")
    text = decode_text(data)
    if "\0" in text:
        raise DatasetError("not_text", f"NUL byte at {data.index(0)}")
    controls = len(data) - len(data.translate(None, CONTROL_BYTES))  # ASCII bytes are whole characters in UTF-8
    if controls * 100 > len(text) * MAX_CONTROL_PERCENT:
        raise DatasetError("not_text", f"{controls} control characters in {len(text)}")
    return text
