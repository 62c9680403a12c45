"""Errors a client may read. Anything else is masked ("Unexpected error.") by the schema's
MaskErrors extension and logged with the request id, never sent: no SQL, no trace."""

from __future__ import annotations


class ClientError(Exception):
    """A refusal whose message is safe and useful to show as it is."""


class BadValue(ClientError, ValueError):
    """A value a scalar or an argument refuses (bad address, out-of-range integer, bad id)."""
