"""The codec's exceptions: one base class, ``CodecError``, so a caller can catch everything the codec raises.

All of them are ``ValueError`` subclasses (bad input, not a bug). ``UnknownDiscriminator`` is a
``DecodeError`` that keeps the kind and the 8 bytes, so a decoder can record what it skipped;
``EncodeError`` keeps the path of the field that did not fit, filled in as the error unwinds.
"""

from __future__ import annotations

from collections.abc import Sequence


class CodecError(ValueError):
    """Base class of every error this package raises."""


class IdlError(CodecError):
    """The IDL uses something this codec does not support, or is malformed."""


class DecodeError(CodecError):
    """The bytes are not a valid encoding (truncated, trailing bytes, bad tag, bad UTF-8)."""


class UnknownDiscriminator(DecodeError):
    """The first 8 bytes match no event/account/instruction of the IDL."""

    def __init__(self, kind: str, discriminator: bytes) -> None:
        self.kind = kind
        self.discriminator = bytes(discriminator)
        super().__init__(f"unknown {kind} discriminator {self.discriminator.hex() or '(empty)'}")


class EncodeError(CodecError):
    """A value does not fit its IDL type; ``path`` names the field (e.g. ``params.epochs``)."""

    def __init__(self, message: str, path: Sequence[str] = ()) -> None:
        self.message = message
        self.path: list[str] = list(path)
        super().__init__(message)

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}: {self.message}" if self.path else self.message
