"""Rate limits in Redis: a sliding window log per key, checked and recorded in one Lua
script (atomic across API processes). Over the limit: ``RateLimited`` with the seconds
until the oldest request leaves the window (``Retry-After``).

Redis down: the limit fails open (the request is served, logged as
``rate_limit_unavailable``). Refusing every request while Redis restarts would turn
a cache outage into an API outage; PostgreSQL-backed reads do not need Redis."""

from __future__ import annotations

import time
import uuid

import redis.asyncio as aioredis
import structlog

from graphql_api.state import ApiState

log = structlog.get_logger("graphql_api.ratelimit")

WINDOW_MS = 60_000
_SCRIPT = """
local key, now, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, window)
return 0
"""


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


async def hit(state: ApiState, key: str, limit: int) -> None:
    if limit <= 0:
        return
    now = int(time.time() * 1000)
    try:
        wait_ms = int(await state.redis.eval(_SCRIPT, 1, f"api:rate:{key}", now, WINDOW_MS, limit, f"{now}-{uuid.uuid4().hex[:8]}"))
    except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as e:
        state.metrics.degraded.labels("rate_limit").inc()
        log.warning("rate_limit_unavailable", key=key.split(":", 1)[0], error=str(e) or type(e).__name__)
        return
    if wait_ms > 0:
        raise RateLimited(max(1, -(-wait_ms // 1000)))
