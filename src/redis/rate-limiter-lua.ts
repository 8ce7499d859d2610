/**
 * The scripts of {@link RedisRateLimiter}, one per step, each on top of {@link PRELUDE} (the
 * buckets' arithmetic, ported from the in-memory limiter).
 */
import { PRELUDE } from './rate-limiter-lua-prelude.js';

/**
 * KEYS[1] the budget. ARGV: ticket, worker, tokens, requests per minute, tokens per minute
 * (configured, '' for none), lease ms, key ttl ms, now (tests only; '' reads TIME).
 * Returns JSON: `{ granted = lease }`, or `{ wait = ms | -1, reason }` (-1: until an answer), with the snapshot.
 */
export const ACQUIRE_SCRIPT = `${PRELUDE}
local key = KEYS[1]
local ticket, worker, tokens = ARGV[1], ARGV[2], tonumber(ARGV[3])
local rpm, tpm, leaseMs, ttl = opt(ARGV[4]), opt(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = clock(ARGV[8])
local S = load(key, now, rpm ~= nil or tpm ~= nil)
purge(S, now)
configure(S, now, rpm, tpm)
S.workers[worker] = now + leaseMs

local at = nil
for i, w in ipairs(S.queue) do
  if w.id == ticket then at = i end
end
if at == nil then
  S.queue[#S.queue + 1] = { id = ticket, exp = now + leaseMs, tokens = tokens }
  at = #S.queue
else
  S.queue[at].exp = math.max(S.queue[at].exp, now + leaseMs)
end

local reply
if at > 1 then
  reply = { wait = -1, reason = 'queued' }
  if S.hw ~= nil and S.hw.untilMs ~= nil then reply.wait = math.max(0, S.hw.untilMs - now) end
else
  if S.hs == nil or S.hs.id ~= ticket then S.hs = { id = ticket } end
  local wait, reason = 0, nil
  local inFlight = inFlightCount(S)
  if S.paused > now then
    wait, reason = S.paused - now, '429'
  elseif not winAllows(S) then
    wait, reason = -1, 'slow-start'
  else
    wait = paceWait(S, now)
    for _, kind in ipairs(KINDS) do
      if S.c[kind] ~= nil then wait = math.max(wait, waitFor(S.c[kind], cost(kind, tokens), now)) end
    end
    local learnt = math.max(0, S.blocked - now)
    for _, kind in ipairs(KINDS) do
      local ms = waitFor(S.l[kind], cost(kind, tokens), now)
      if ms == false then
        if inFlight > 0 then
          wait, reason = -1, 'rate-limit'
          break
        end
      else
        learnt = math.max(learnt, ms)
      end
    end
    if reason == nil then
      if learnt > 0 then
        S.hs.since = S.hs.since or now
        local allowed = S.hs.since + MAX_HEADER_WAIT - now
        wait = math.max(wait, math.min(learnt, math.max(0, allowed)))
      end
      if wait > 0 then reason = 'rate-limit' end
    end
  end
  if reason ~= nil then
    S.hw = { reason = reason }
    if wait >= 0 then S.hw.untilMs = now + wait end
    S.queue[1].exp = math.max(S.queue[1].exp, now + math.max(wait, 0) + leaseMs)
    reply = { wait = wait, reason = reason }
  else
    table.remove(S.queue, 1)
    S.hs = nil
    S.hw = nil
    S.seq = S.seq + 1
    local seq = S.seq
    for _, kind in ipairs(KINDS) do
      local c = cost(kind, tokens)
      if S.c[kind] ~= nil then take(S.c[kind], c, now) end
      take(S.l[kind], c, now)
      S.sent[kind] = S.sent[kind] + c
    end
    paceTake(S, now)
    local lease = S.epoch .. ':' .. seq
    S.flight[lease] = { seq = seq, tokens = tokens, sentAt = now, exp = now + leaseMs, ticket = ticket }
    S.unsynced[#S.unsynced + 1] = { seq = seq, tokens = tokens }
    reply = { granted = lease }
  end
end
reply.snapshot = snapshot(S, now)
save(key, S, ttl)
return cjson.encode(reply)
`;

/**
 * KEYS[1] the budget. ARGV: lease, status (0: no answer, cancelled), then what the worker parsed
 * of the headers ('' where absent): requests limit, requests remaining, requests reset ms,
 * tokens limit, tokens remaining, tokens reset ms, retry-after ms, never ('1'), header style,
 * key ttl ms, now (tests only).
 */
export const SETTLE_SCRIPT = `${PRELUDE}
local key = KEYS[1]
local id, status = ARGV[1], tonumber(ARGV[2])
local H = {
  r = { limit = opt(ARGV[3]), remaining = opt(ARGV[4]), reset = opt(ARGV[5]) },
  t = { limit = opt(ARGV[6]), remaining = opt(ARGV[7]), reset = opt(ARGV[8]) },
}
local retryAfter, never, style, ttl = opt(ARGV[9]), ARGV[10] == '1', ARGV[11], tonumber(ARGV[12])
local now = clock(ARGV[13])
local S = load(key, now, false)
purge(S, now)
local sent = S.flight[id]
S.flight[id] = nil
local refused = status == 429

local function sync(charged)
  S.synced = sent.seq
  local kept = {}
  for _, u in ipairs(S.unsynced) do
    if u.seq > sent.seq then kept[#kept + 1] = u end
  end
  S.unsynced = kept
  local seen = {}
  for _, kind in ipairs(KINDS) do
    local uncounted = 0
    for _, u in ipairs(S.unsynced) do uncounted = uncounted + cost(kind, u.tokens) end
    local o = {
      sentAt = sent.sentAt, cost = cost(kind, sent.tokens), charged = charged, uncounted = uncounted,
      sentSoFar = S.sent[kind] - uncounted, crossing = flightCost(S, kind),
    }
    observe(S.l[kind], H[kind].limit, H[kind].remaining, o, now)
    seen[kind] = o
    if H[kind].remaining == 0 and H[kind].limit == nil and H[kind].reset ~= nil then
      S.blocked = math.max(S.blocked, now + H[kind].reset)
    end
  end
  return seen
end

local function refund()
  local unsynced = sent.seq > S.synced
  local kept = {}
  for _, u in ipairs(S.unsynced) do
    if u.seq ~= sent.seq then kept[#kept + 1] = u end
  end
  S.unsynced = kept
  for _, kind in ipairs(KINDS) do
    local c = cost(kind, sent.tokens)
    if S.c[kind] ~= nil then take(S.c[kind], -c, now) end
    if unsynced then take(S.l[kind], -c, now) end
    S.sent[kind] = S.sent[kind] - c
  end
end

if status > 0 then
  local seen = nil
  -- A lease that expired (or a Redis restarted since) is not known: its answer still pauses
  -- every worker, but it cannot say where the buckets stand.
  if sent ~= nil and refused then refund() end
  if style ~= 'none' then
    S.style = style
    S.win.size = nil
    if sent ~= nil and sent.seq > S.synced then seen = sync(not refused) end
  elseif status < 300 or refused then
    if S.style == 'unknown' then S.style = 'none' end
    local sentAt = sent and sent.sentAt or now
    if not refused then
      winGrow(S, sentAt)
      S.pace.accepted = S.pace.accepted + 1
      if S.pace.per ~= nil then S.pace.per = S.pace.per + S.pace.measured * RATE_INCREASE end
    elseif S.style == 'none' and winShrink(S, sentAt, now, inFlightCount(S) + 1) then
      if paceRefused(S, now) then S.win.size = nil end
    end
  end
  if not refused then
    if status < 300 then S.row = 0 end
  else
    S.limited = S.limited + 1
    if not never then
      S.row = S.row + 1
      local pause = retryAfter
      if pause ~= nil then
        if sent ~= nil then
          for _, kind in ipairs(KINDS) do
            local c = cost(kind, sent.tokens)
            learnFromRefusal(S.l[kind], c, H[kind].remaining, pause, seen and seen[kind])
            advised(S.l[kind], c, pause, now)
          end
        end
      else
        pause = math.min(PAUSE_INITIAL * 2 ^ (S.row - 1), PAUSE_MAX)
      end
      S.paused = math.max(S.paused, now + pause)
    end
  end
end
forget(S)
save(key, S, ttl)
return cjson.encode({ snapshot = snapshot(S, now) })
`;

/**
 * KEYS[1] the budget. ARGV: tokens difference (used − charged), key ttl ms, now (tests only).
 * The configured tokens bucket takes the difference; the learnt one follows `remaining`.
 */
export const RECONCILE_SCRIPT = `${PRELUDE}
local key = KEYS[1]
local difference, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = clock(ARGV[3])
local raw = redis.call('GET', key)
if not raw then return 0 end
local S = cmsgpack.unpack(raw)
if S.c.t ~= nil then take(S.c.t, difference, now) end
S.sent.t = S.sent.t + difference
save(key, S, ttl)
return 1
`;

/**
 * KEYS[1] the budget. ARGV: worker, lease ms, key ttl ms, now (tests only), then the ids of this
 * worker's tickets and leases, each prefixed 'w:' or 'l:'. Keeps them alive while the worker is.
 */
export const TOUCH_SCRIPT = `${PRELUDE}
local key = KEYS[1]
local worker, leaseMs, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = clock(ARGV[4])
local raw = redis.call('GET', key)
if not raw then return 0 end
local S = cmsgpack.unpack(raw)
local tickets, leases = {}, {}
for i = 5, #ARGV do
  local kind, id = string.sub(ARGV[i], 1, 1), string.sub(ARGV[i], 3)
  if kind == 'w' then tickets[id] = true else leases[id] = true end
end
for _, w in ipairs(S.queue) do
  if tickets[w.id] then w.exp = math.max(w.exp, now + leaseMs) end
end
for id, f in pairs(S.flight) do
  if leases[id] then f.exp = math.max(f.exp, now + leaseMs) end
end
S.workers[worker] = now + leaseMs
save(key, S, ttl)
return 1
`;

/**
 * KEYS[1] the budget. ARGV: key ttl ms, then ticket ids to take out of the line (their waiters
 * gave up or went to the local share), with any turn granted to them unseen.
 */
export const LEAVE_SCRIPT = `${PRELUDE}
local key = KEYS[1]
local raw = redis.call('GET', key)
if not raw then return 0 end
local S = cmsgpack.unpack(raw)
local gone = {}
for i = 2, #ARGV do gone[ARGV[i]] = true end
local queue = {}
for i, w in ipairs(S.queue) do
  if gone[w.id] then
    if i == 1 then S.hs = nil; S.hw = nil end
  else
    queue[#queue + 1] = w
  end
end
S.queue = queue
-- A step that timed out may still have run, later, and granted its ticket a turn its waiter
-- never saw: that turn is given back as if cancelled.
for id, f in pairs(S.flight) do
  if f.ticket ~= nil and gone[f.ticket] then S.flight[id] = nil end
end
forget(S)
save(key, S, tonumber(ARGV[1]))
return 1
`;
