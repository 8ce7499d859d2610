/**
 * The in-memory limiter's arithmetic in Lua, for the scripts of {@link RedisRateLimiter}, ported
 * line for line: the buckets (src/rate-limit/budget.ts), the slow-start window (window.ts) and
 * the pace measured after 429s (in-memory.ts). It works on a bucket, or on the state's window
 * and pace, given to it; making, reading and writing the state is rate-limiter-lua-prelude.ts's.
 */

/** The limiter's constants, then the buckets, the window and the pace. */
export const PACING_LUA = String.raw`
local MINUTE = 60000
local RATE_PROBE = 0.02
local RATE_INCREASE = 0.005
local SLOW_START_THRESHOLD = 4
local MAX_HEADER_WAIT = 60000
local PAUSE_INITIAL = 500
local PAUSE_MAX = 8000
local KINDS = { 'r', 't' }

local function cost(kind, tokens)
  if kind == 'r' then return 1 end
  return tokens
end

local function newBudget(now, perMinute)
  local b = { at = now, lvl = 0, big = 0 }
  if perMinute ~= nil then
    b.rate = perMinute / MINUTE
    b.src = 'configured'
    b.cap = perMinute
    b.lvl = perMinute
  end
  return b
end

local function refill(b, now)
  local elapsed = math.max(0, now - b.at)
  b.at = now
  if b.rate == nil or b.cap == nil or b.lvl >= b.cap then return end
  b.lvl = math.min(b.cap, b.lvl + elapsed * b.rate)
end

-- Milliseconds until the bucket holds cost (capped at its size); false when only an answer can tell.
local function waitFor(b, c, now)
  if b.cap == nil then return 0 end
  refill(b, now)
  local need = math.min(c, b.cap)
  if b.lvl >= need then return 0 end
  b.bind = true
  if b.rate == nil then return false end
  return math.floor((need - b.lvl) / b.rate) + 1
end

local function take(b, c, now)
  refill(b, now)
  local v = b.lvl - c
  if b.cap ~= nil and v > b.cap then v = b.cap end
  b.lvl = v
end

local function estimate(b, remaining, seen, wasFull)
  local total = remaining + seen.sentSoFar
  if wasFull or b.anc == nil then
    b.anc = { at = seen.sentAt, total = total, crossing = seen.crossing }
    return
  end
  local span = seen.sentAt - b.anc.at
  local grown = total - b.anc.total - 1 - seen.crossing - b.anc.crossing
  if span > 0 and grown > 0 and (b.src ~= 'estimated' or grown / span > b.rate) then
    b.meas = false
    b.rate = grown / span
    b.src = 'estimated'
  end
end

local function observe(b, limit, remaining, seen, now)
  if b.src == 'configured' then return end
  refill(b, now)
  if limit ~= nil then
    b.rate = limit / MINUTE
    b.src = 'header'
    if b.cap == nil then
      b.cap = limit
      b.lvl = limit - seen.uncounted - (seen.charged and seen.cost or 0)
    end
  end
  if remaining == nil then return end
  local held = remaining + (seen.charged and seen.cost or 0)
  local wasFull = held > b.big
  local asFull = seen.charged and held >= b.big
  b.big = math.max(b.big, held)
  b.cap = b.big
  local refilled = (b.rate or 0) * math.max(0, now - seen.sentAt)
  local lowest = math.min(b.cap, remaining + refilled * 0.5) - seen.uncounted
  local highest = math.min(b.cap, remaining + refilled) - seen.uncounted
  local kept = lowest
  if b.trk and held <= b.cap - seen.cost then kept = b.lvl end
  b.lvl = math.min(math.max(kept, lowest), highest)
  b.trk = true
  if b.src ~= 'header' then
    estimate(b, remaining, seen, wasFull)
    if asFull then
      b.kl = { at = seen.sentAt, level = b.cap - seen.cost, total = seen.sentSoFar }
      if b.src == 'estimated' and b.bind and not b.meas then b.rate = b.rate * (1 + RATE_PROBE) end
    end
  end
  b.bind = false
end

local function learnFromRefusal(b, c, remaining, retryAfterMs, seen)
  if b.src == 'configured' or b.src == 'header' then return end
  if remaining == nil or retryAfterMs <= 0 then return end
  local need = math.min(c, b.cap or c)
  if need - remaining <= 0 then return end
  local known = b.kl
  if seen ~= nil then
    b.kl = { at = seen.sentAt + retryAfterMs, level = need, total = seen.sentSoFar }
  else
    b.kl = nil
  end
  if seen ~= nil and known ~= nil and seen.sentAt + retryAfterMs > known.at then
    local at = seen.sentAt + retryAfterMs
    local refilled = need - known.level + (seen.sentSoFar - known.total)
    if refilled > 0 then
      b.rate = refilled / (at - known.at)
      b.src = 'estimated'
      b.meas = true
      b.anc = nil
      return
    end
  end
  if b.src == 'estimated' or need - remaining - 1 <= 0 then return end
  b.rate = (need - remaining - 1) / retryAfterMs
  b.src = 'estimated'
end

local function advised(b, c, retryAfterMs, now)
  if b.rate == nil or b.cap == nil then return end
  refill(b, now)
  b.lvl = math.max(b.lvl, math.min(c, b.cap) - b.rate * retryAfterMs)
end

local function belief(b, now)
  if b == nil then return {} end
  refill(b, now)
  local out = { src = b.src, cap = b.cap }
  if b.rate ~= nil then out.pm = b.rate * MINUTE end
  if b.cap ~= nil then out.avail = math.max(0, math.floor(b.lvl)) end
  return out
end

local function inFlightCount(S)
  local n = 0
  for _ in pairs(S.flight) do n = n + 1 end
  return n
end

local function winAllows(S)
  return S.win.size == nil or inFlightCount(S) < math.floor(S.win.size)
end

local function winGrow(S, sentAt)
  local w = S.win
  if w.size == nil or sentAt <= w.dec then return end
  if w.size < w.thr then w.size = w.size + 1 else w.size = w.size + 0.5 / w.size end
end

local function winShrink(S, sentAt, now, inFlight)
  local w = S.win
  if sentAt <= w.dec then return false end
  local current = w.size or math.max(1, inFlight)
  w.thr = math.max(1, current / 4)
  w.size = 1
  w.dec = now
  return true
end

local function paceWait(S, now)
  if S.pace.per == nil then return 0 end
  return math.max(0, math.ceil(S.pace.next - now))
end

local function paceTake(S, now)
  if S.pace.per ~= nil then S.pace.next = math.max(S.pace.next, now) + 1 / S.pace.per end
end

local function paceRefused(S, now)
  local p = S.pace
  local span = now - p.at
  local measuring = p.episodes > 0 and span > 0 and p.accepted > 0
  p.episodes = p.episodes + 1
  if measuring then
    p.measured = p.accepted / span
    p.per = p.measured
  end
  p.at = now
  p.accepted = 0
  return measuring
end
`;
