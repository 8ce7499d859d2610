/**
 * The Lua side (shared part) of {@link RedisRateLimiter}: the in-memory limiter's arithmetic
 * (rate-limiter-lua-pacing.ts) run atomically inside Redis on one key holding the whole budget
 * (MessagePack): buckets, the line of waiters, the requests in flight. Here is that state: made,
 * read and written, rid of silent workers, given the caller's limits, and told back as the
 * snapshot every step answers with. Time is the server's own (`TIME`; Redis 7 replicates a
 * script's effects, so reading the clock before writing is allowed), never a worker's, which may
 * be seconds off. One key per budget keeps every step atomic and cluster-safe, and one PEXPIRE
 * forgets it.
 */
import { PACING_LUA } from './rate-limiter-lua-pacing.js';

/** Shared by every script: the arithmetic, then the state it works on. */
export const PRELUDE = String.raw`${PACING_LUA}
local function clock(override)
  if override ~= nil and override ~= '' then return tonumber(override) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end

local function opt(v)
  if v == nil or v == '' then return nil end
  return tonumber(v)
end

local function newState(now, configured)
  local S = {
    -- Names this state's leases: after a restart (empty memory) a lease of before is unknown,
    -- not mistaken for a new one with the same number.
    epoch = string.format('%.0f', now * 1000), seq = 0, synced = 0, sent = { r = 0, t = 0 }, paused = 0, blocked = 0, row = 0, limited = 0,
    style = 'unknown', flight = {}, unsynced = {}, queue = {}, workers = {},
    l = { r = newBudget(now), t = newBudget(now) }, c = {},
    win = { thr = SLOW_START_THRESHOLD, dec = -1 },
    pace = { episodes = 0, measured = 0, at = now, accepted = 0, next = 0 },
  }
  if not configured then S.win.size = 1 end
  return S
end

local function load(key, now, configured)
  local raw = redis.call('GET', key)
  if not raw then return newState(now, configured) end
  return cmsgpack.unpack(raw)
end

local function save(key, S, ttl)
  -- MessagePack keeps every double exact (cjson writes 14 digits): a rate rounded at each
  -- step would drift from the in-memory limiter's.
  redis.call('SET', key, cmsgpack.pack(S), 'PX', ttl)
end

local function flightCost(S, kind)
  local sum = 0
  for _, f in pairs(S.flight) do sum = sum + cost(kind, f.tokens) end
  return sum
end

-- What started before every request in flight is never asked about again.
local function forget(S)
  local oldest = math.huge
  for _, f in pairs(S.flight) do oldest = math.min(oldest, f.seq) end
  local kept = {}
  for _, u in ipairs(S.unsynced) do
    if u.seq >= oldest then kept[#kept + 1] = u end
  end
  S.unsynced = kept
end

-- Tickets of waiters and leases of workers gone silent: a dead worker's turn and its
-- request in flight end as if cancelled.
local function purge(S, now)
  local queue = {}
  for i, w in ipairs(S.queue) do
    if w.exp > now then queue[#queue + 1] = w
    elseif i == 1 then
      S.hs = nil
      S.hw = nil
    end
  end
  S.queue = queue
  local expired = false
  for id, f in pairs(S.flight) do
    if f.exp <= now then
      S.flight[id] = nil
      expired = true
    end
  end
  if expired then forget(S) end
  for id, exp in pairs(S.workers) do
    if exp <= now then S.workers[id] = nil end
  end
end

-- The caller's own limits (the last given, as every worker of a budget is meant to give the same), kept beside what answers teach; a change of them takes effect at once.
local function configure(S, now, rpm, tpm)
  local known = S.c.r ~= nil or S.c.t ~= nil
  for _, pair in ipairs({ { 'r', rpm }, { 't', tpm } }) do
    local kind, pm = pair[1], pair[2]
    if pm == nil then -- another worker's limits stand
    elseif S.c[kind] == nil then S.c[kind] = newBudget(now, pm)
    elseif S.c[kind].cap ~= pm then
      refill(S.c[kind], now)
      S.c[kind].rate = pm / MINUTE
      S.c[kind].cap = pm
      S.c[kind].lvl = math.min(S.c[kind].lvl, pm)
    end
  end
  -- Configured limits are known limits, as the in-memory limiter's constructor has them: the
  -- window opens when they first come, not again after a 429 without headers restarted it.
  if not known and (rpm ~= nil or tpm ~= nil) and S.win.dec < 0 then S.win.size = nil end
end

local function snapshot(S, now)
  local head = S.queue[1]
  return {
    r = belief(S.l.r, now), t = belief(S.l.t, now), cr = belief(S.c.r, now), ct = belief(S.c.t, now),
    style = S.style, win = S.win.size and math.floor(S.win.size), flight = inFlightCount(S),
    waiting = #S.queue, limited = S.limited, workers = (function()
      local n = 0
      for _ in pairs(S.workers) do n = n + 1 end
      return n
    end)(),
    head = head and head.id, headWait = S.hw, now = now,
  }
end
`;
