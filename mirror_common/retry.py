"""One retry policy for every service: capped exponential backoff with jitter.

Every loop in the services that waits and tries again goes through here, so the
shape of a retry (first delay, growth, cap, jitter, how many tries, the log line) is
decided in one place:

    await retry(lambda: pool.fetch(...), transient=is_connection_error, policy=DATABASE, log=log, event="postgres_unavailable")

    backoff = Backoff(RECONNECT)          # for loops that are not "call until it works"
    await backoff.wait()                  # sleeps the next delay
    backoff.reset()                       # after a healthy stretch, start small again

Which errors are worth a retry is the caller's question (``transient``): retrying a
value the database refuses would only turn one bad transaction into an endless loop.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial: float = 0.1  # seconds before the first retry
    maximum: float = 2.0  # cap on one delay
    factor: float = 2.0
    jitter: float = 0.25  # each delay is stretched by up to this fraction, so clients do not retry in step
    attempts: int | None = None  # tries in all (None: until cancelled)


# The policies the services share.
DATABASE = RetryPolicy(initial=0.1, maximum=2.0, attempts=60)  # PostgreSQL restarting: about two minutes
RPC = RetryPolicy(initial=0.1, maximum=5.0, attempts=6)  # one JSON-RPC call
RPC_MISSING = RetryPolicy(initial=0.1, maximum=2.0, attempts=5)  # transactions the node has not returned yet
REDIS = RetryPolicy(initial=0.1, maximum=5.0)  # the publisher waits for Redis as long as it takes
RECONNECT = RetryPolicy(initial=0.2, maximum=5.0)  # the live stream
APPLY = RetryPolicy(initial=0.05, maximum=0.5, jitter=0.0, attempts=3)  # a transaction a handler refused


class Backoff:
    """The delays of one policy, one after another."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.tries = 0  # waits so far
        self._delay = policy.initial

    @property
    def exhausted(self) -> bool:
        """True once every attempt of a bounded policy has been made."""
        return self.policy.attempts is not None and self.tries + 1 >= self.policy.attempts

    def next_delay(self) -> float:
        delay = self._delay * (1 + random.random() * self.policy.jitter)
        self._delay = min(self._delay * self.policy.factor, self.policy.maximum)
        self.tries += 1
        return delay

    async def wait(self) -> float:
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay

    def reset(self) -> None:
        self.tries = 0
        self._delay = self.policy.initial


async def retry(
    fn: Callable[[], Awaitable[T]],
    *,
    transient: Callable[[BaseException], bool],
    policy: RetryPolicy,
    log: Any = None,
    event: str = "retry",
    on_retry: Callable[[BaseException], None] | None = None,
    **context: Any,
) -> T:
    """``await fn()``; on an error that ``transient`` accepts, waits and tries again while
    the policy allows. Anything else, and the last transient error, is raised as it is."""
    backoff = Backoff(policy)
    while True:
        try:
            return await fn()
        except Exception as e:
            if not transient(e) or backoff.exhausted:
                raise
            if on_retry is not None:
                on_retry(e)
            delay = backoff.next_delay()
            if log is not None:
                log.warning(event, error=str(e) or type(e).__name__, attempt=backoff.tries, retry_in=round(delay, 2), **context)
            await asyncio.sleep(delay)
