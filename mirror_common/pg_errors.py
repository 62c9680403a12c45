"""PostgreSQL errors classified by cause: is the database unreachable, or did it refuse this?

Only the first kind is worth waiting for. A value the database refuses, a constraint, a
bug in a handler: retrying those forever would let one transaction stop a service for
everyone (issue: an expiry of i64::MAX made ``OSError: [Errno 75]`` look like an outage).

Transient (wait and retry):
- the connection cannot be made or was lost (asyncpg's connection errors, the socket
  errors ``ConnectionError``/``TimeoutError``/name resolution, a pool whose connection
  died: ``InterfaceError`` about a closed connection);
- the server is starting, shutting down or restarting (SQLSTATE class 57, 08);
- it ran out of resources for now (class 53: disk full, too many connections);
- a serialization failure or deadlock (40001, 40P01), which succeeds when run again.
Everything else is not: the caller records it and moves on.
"""

from __future__ import annotations

import errno
import socket

import asyncpg

_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57")
_TRANSIENT_SQLSTATES = ("40001", "40P01")
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EADDRNOTAVAIL,
    }
)


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` says PostgreSQL is unreachable or briefly unable to serve,
    false when it refused what was asked (or the error is ours)."""
    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError):
        return True
    if isinstance(exc, asyncpg.DataError):  # a value asyncpg could not encode: refused, not unreachable
        return False
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed", "cannot perform operation: another operation is in progress" after a drop…
        # but also misuse of the API, which is ours to fix; only the connection kinds are transient.
        return isinstance(exc, asyncpg.ConnectionDoesNotExistError) or "connection" in str(exc).lower()
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", None) or ""
        return state[:2] in _TRANSIENT_SQLSTATE_CLASSES or state in _TRANSIENT_SQLSTATES
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(exc, OSError):
        # A socket error by number; asyncpg's "Multiple exceptions: [Errno 111] …" when every
        # address of the host refused. Not OSError as such: EOVERFLOW from a date is no outage.
        return exc.errno in _NETWORK_ERRNOS or str(exc).startswith("Multiple exceptions:")
    return False
