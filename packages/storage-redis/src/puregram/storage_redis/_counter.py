"""The fixed-window counter behind ``RedisStorage.count_hit``: one Lua script, one key.

The script reads the entry, starts a new window when there is none or it has ended, adds
the hit and writes ``{"hits": n, "resetAt": unix_ms}`` back with ``PX`` set to the time
left in the window, all in one atomic step. A value that is not JSON, or JSON but not
such an entry (another plugin's record, or ``hits``/``resetAt`` outside 0..2**53-1), is
left alone and reported with an error reply that starts with a marker; ``hits`` saturates
at 2**53-1.
It touches only ``KEYS[1]``, so it is cluster-safe. "Now" is the server's ``TIME``: every
process counting on one key shares one clock, so a client whose clock is skewed can never
end a window early for others.
"""

from __future__ import annotations

import hashlib

__all__ = ["CORRUPT_MARKER", "COUNT_HIT_LUA", "COUNT_HIT_SHA", "NOT_COUNTER_MARKER"]

CORRUPT_MARKER = "PUREGRAM_CORRUPT"
NOT_COUNTER_MARKER = "PUREGRAM_NOT_COUNTER"

# ``MAX`` is 2**53 - 1, the largest integer a double (Lua's number, JavaScript's) holds
# exactly: a count or a unix-ms beyond it cannot be a record this ecosystem wrote, and past
# 2**63 ``%d`` would wrap it negative (a limit that allows every hit).
COUNT_HIT_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local MAX = 9007199254740991
local window = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local hits = 0
local reset_at = 0
local raw = redis.call('GET', KEYS[1])
if raw then
  local ok, entry = pcall(cjson.decode, raw)
  if not ok then
    return redis.error_reply('PUREGRAM_CORRUPT ' .. tostring(entry))
  end
  if type(entry) ~= 'table' then
    return redis.error_reply('PUREGRAM_NOT_COUNTER is not a JSON object')
  end
  hits = entry.hits
  reset_at = entry.resetAt
  -- Written as "not (in range)" so that NaN, which fails every comparison, is refused.
  if type(hits) ~= 'number' or not (hits >= 0 and hits <= MAX) or hits ~= math.floor(hits) then
    return redis.error_reply(
      'PUREGRAM_NOT_COUNTER has no "hits" that is an integer from 0 to 2**53-1')
  end
  if type(reset_at) ~= 'number' or not (reset_at >= 0 and reset_at <= MAX) then
    return redis.error_reply(
      'PUREGRAM_NOT_COUNTER has no "resetAt" that is a unix ms from 0 to 2**53-1')
  end
  reset_at = math.floor(reset_at)
end
if reset_at <= now then
  hits = 0
  reset_at = now + window
end
if hits < MAX then
  hits = hits + 1
end
redis.call('SET', KEYS[1], string.format('{"hits":%d,"resetAt":%d}', hits, reset_at),
  'PX', reset_at - now)
return {hits, reset_at}
"""

COUNT_HIT_SHA = hashlib.sha1(COUNT_HIT_LUA.encode()).hexdigest()
"""The script's name in a server's script cache (``EVALSHA``)."""
