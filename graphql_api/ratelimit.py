"""Rate limits in Redis: a sliding window log per key, checked and recorded in one Lua
script (atomic across API processes). Over the limit: ``RateLimited`` with the seconds
until the oldest request leaves the window (``Retry-After``)."""

from __future__ import annotations

import time
import uuid

from graphql_api.state import ApiState

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
    wait_ms = int(await state.redis.eval(_SCRIPT, 1, f"api:rate:{key}", now, WINDOW_MS, limit, f"{now}-{uuid.uuid4().hex[:8]}"))
    if wait_ms > 0:
        raise RateLimited(max(1, -(-wait_ms // 1000)))
