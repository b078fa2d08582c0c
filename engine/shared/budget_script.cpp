#include "shared/budget_script.h"

#include "admission/ledger.h"
#include "admission/limits.h"

#include <array>
#include <cstdio>

namespace sluice::shared {

namespace {

// The script. ARGV: op, now (µs, or "" for the server's TIME), instance,
// lease (µs), how far ahead admit may book (µs), the window-log entry an
// admission writes, then 10 per dimension: kind, limit, period, cap, a, b,
// offset, margin (1/10,000), least margin (µs), logged (1: a token
// dimension that keeps a window log once paced). KEYS: one per dimension,
// two for concurrency (lease set, weights), four for rolling dimensions
// (state, what was learned from 429s, the window log's times and sizes).
// The ledger's bounds on margins are put in front, so both read the same
// constants.
const std::string kSource = "local MAX_WHOLE_MARGIN = " + std::to_string(Ledger::kMaxWholeMarginPer10k) + "\n" +
                            "local MOST_PACED_MARGIN = " + std::to_string(Ledger::kMostPacedMarginPer10k) + "\n" +
                            "local PACED_MARGIN = " + std::to_string(Ledger::kPacedMarginPer10k) + "\n" +
                            "local MOST_PACED_NARROWINGS = " + std::to_string(Ledger::kMostPacedNarrowings) + "\n" +
                            "local KEEP_LEARNED_MS = " + std::to_string(kKeepLearnedMs) + "\n" +
                            "local PENDING_MOST_US = " + std::to_string(kPendingMostUs) + "\n" +
                            "local ARRIVAL_ALLOWANCE_US = " +
                            std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                               kArrivalJitterAllowance).count()) + "\n" +
                            R"LUA(
local op = ARGV[1]
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local inst = ARGV[3]
local lease = tonumber(ARGV[4])
-- Lua would print large numbers with 14 digits; Redis must get all of them.
local function s(x) return string.format('%d', x) end

if op == 'hb' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. s(now))
  redis.call('ZADD', KEYS[1], s(now + lease), inst)
  redis.call('PEXPIRE', KEYS[1], s(math.floor(lease / 1000) + 1000))
  return redis.call('ZCARD', KEYS[1])
end

-- logfix: corrections to window-log entries (Ledger::logCorrected,
-- logDeparted), 4 ARGV from the 7th each: which log (n: KEYS 2n-1, 2n),
-- the entry, a change of its size, and when it left (µs, only ever later;
-- 0: unchanged; negative: it goes no earlier than that, not yet gone). An
-- entry already expired is left alone.
if op == 'logfix' then
  local i = 7
  while i + 3 <= #ARGV do
    local p = tonumber(ARGV[i])
    local id = ARGV[i + 1]
    local delta = tonumber(ARGV[i + 2])
    local at = tonumber(ARGV[i + 3])
    local lk, vk = KEYS[2 * p - 1], KEYS[2 * p]
    local old = tonumber(redis.call('HGET', vk, id))
    if old then
      if delta ~= 0 then
        local new = math.max(old + delta, 0)
        redis.call('HSET', vk, id, s(new))
        redis.call('HINCRBY', vk, '=', s(new - old))
      end
      if at > 0 then redis.call('HDEL', vk, 'p' .. id) end
      at = math.abs(at)
      if at > 0 then
        local cur = tonumber(redis.call('ZSCORE', lk, id))
        if cur and at > cur then redis.call('ZADD', lk, s(at), id) end
      end
    end
    i = i + 4
  end
  return {1, now}
end

-- floor(a / b) for b > 0, exact while |a| < 2^53
local function fdiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function cdiv(a, b) return -fdiv(-a, b) end

local bookAhead = tonumber(ARGV[5])
local entry = ARGV[6]
local n = (#ARGV - 6) / 10
local dims = {}
local k = 1
for i = 1, n do
  local base = 6 + (i - 1) * 10
  local d = {kind = ARGV[base + 1], limit = tonumber(ARGV[base + 2]), period = tonumber(ARGV[base + 3]),
             cap = tonumber(ARGV[base + 4]), a = tonumber(ARGV[base + 5]), b = tonumber(ARGV[base + 6]),
             off = tonumber(ARGV[base + 7]), m = tonumber(ARGV[base + 8]), lm = tonumber(ARGV[base + 9]),
             logged = ARGV[base + 10] == '1', key = KEYS[k]}
  k = k + 1
  if d.kind == 'c' then d.wkey = KEYS[k]; k = k + 1 end
  if d.kind == 'r' then d.lkey = KEYS[k]; d.logkey = KEYS[k + 1]; d.valkey = KEYS[k + 2]; k = k + 3 end
  dims[i] = d
end

-- The window log of a paced token dimension (engine/admission/
-- ledger_window.cpp): the provider's window (the configured burst with the
-- arrival allowance burstFor took off it given back, or the period's
-- limit), an entry counting for that span and the least margin, and room
-- for the window less the paced share. Needs spec_cap, m and lm as the
-- admission applies them.
local function windowOf(d)
  local units = d.limit
  if d.spec_cap < d.limit then
    units = math.min(d.spec_cap + cdiv(d.limit * ARRIVAL_ALLOWANCE_US, d.period), d.limit)
  end
  d.span = cdiv(units * d.period, math.max(d.limit, 1)) + d.lm
  d.room = math.max(1, units - fdiv(units * d.m, 10000))
end
-- Entries are scored by when the provider counts them; sizes are a hash
-- whose field '=' is their total, and 'p<entry>' marks one not yet gone
-- (see windowWait). Drops what expired; returns the total.
local function logHeld(d)
  local cut = now - d.span
  local sum = tonumber(redis.call('HGET', d.valkey, '=')) or 0
  local gone = redis.call('ZRANGEBYSCORE', d.logkey, '-inf', s(cut))
  if #gone > 0 then
    for _, v in ipairs(redis.call('HMGET', d.valkey, unpack(gone))) do sum = sum - (tonumber(v) or 0) end
    redis.call('ZREMRANGEBYSCORE', d.logkey, '-inf', s(cut))
    redis.call('HDEL', d.valkey, unpack(gone))
    local marks = {}
    for j = 1, #gone do marks[j] = 'p' .. gone[j] end
    redis.call('HDEL', d.valkey, unpack(marks))
    sum = math.max(sum, 0)
    redis.call('HSET', d.valkey, '=', s(sum))
  end
  return sum
end
-- How long until the window has room for the need (Ledger::windowRoom): 0
-- now; else a span after the entry whose expiry makes room. A need larger
-- than the room goes into an empty window. An entry whose time has come
-- but whose request has not yet left (no instance said so) goes no earlier
-- than now, up to PENDING_MOST_US late: a slot booked from its old time
-- would put a request beside it (gateways on a busy machine left 6 to 10
-- ms late in bursts, past the least margin).
local function windowWait(d)
  local held = logHeld(d)
  if held == 0 or held + d.a <= d.room then return 0 end
  local es = redis.call('ZRANGE', d.logkey, 0, -1, 'WITHSCORES')
  if #es == 0 then
    redis.call('HSET', d.valkey, '=', '0')
    return 0
  end
  local ids, marks = {}, {}
  for j = 1, #es, 2 do
    ids[#ids + 1] = es[j]
    marks[#marks + 1] = 'p' .. es[j]
  end
  local sizes = redis.call('HMGET', d.valkey, unpack(ids))
  local pending = redis.call('HMGET', d.valkey, unpack(marks))
  local lastAt = now - d.span
  for j = 1, #ids do
    held = held - (tonumber(sizes[j]) or 0)
    local at = tonumber(es[2 * j])
    if pending[j] and at < now then at = math.min(now, at + PENDING_MOST_US) end
    lastAt = math.max(lastAt, at)
    if held <= 0 or held + d.a <= d.room then break end
  end
  return lastAt + d.span + 1 - now
end
local function logWrite(d, id, size, at, pending)
  local was = tonumber(redis.call('HGET', d.valkey, id)) or 0
  redis.call('ZADD', d.logkey, s(at), id)
  redis.call('HSET', d.valkey, id, s(size))
  if pending then redis.call('HSET', d.valkey, 'p' .. id, '1') end
  redis.call('HINCRBY', d.valkey, '=', s(size - was))
  local ttl = s(cdiv(at - now + d.span, 1000) + 60000)
  redis.call('PEXPIRE', d.logkey, ttl)
  redis.call('PEXPIRE', d.valkey, ttl)
end

-- What instances learned from 429s about a rolling dimension (see
-- Ledger::widenMargin, noteNearMiss, paceEvenly): h burst halvings, m
-- share of the rate (1/10,000), l least margin of a whole-bucket request
-- (µs), p paced (the provider counts a window), q the dimension counts
-- requests, tw and tn when a 429 (a near miss) last restarted the quiet
-- period, k the paced share's steps back so far. As the ledger does, each
-- period with no 429 undoes one step: a halving, half the share, a quarter
-- of the least margin; paced, the share halves after Ledger::pacedQuiet
-- (a quarter of the period, doubled per step taken). Read as of now; the
-- stored times move by the steps taken.
local function learned(d)
  local st = redis.call('HMGET', d.lkey, 'h', 'm', 'l', 'p', 'q', 'tw', 'tn', 'k')
  local L = {h = tonumber(st[1]) or 0, m = tonumber(st[2]) or 0, l = tonumber(st[3]) or 0,
             p = tonumber(st[4]) or 0, q = tonumber(st[5]) or 0, tw = tonumber(st[6]) or now,
             tn = tonumber(st[7]) or now, k = tonumber(st[8]) or 0}
  if L.p == 1 then
    while L.m > PACED_MARGIN do
      local quiet = fdiv(d.period * 2 ^ math.min(L.k, MOST_PACED_NARROWINGS), 4)
      if now - L.tw < quiet then break end
      L.tw = L.tw + quiet
      L.m = math.max(PACED_MARGIN, math.floor(L.m / 2))
      L.k = math.min(L.k + 1, MOST_PACED_NARROWINGS)
    end
  elseif now > L.tw then
    local quiet = math.floor((now - L.tw) / d.period)
    L.h = math.max(L.h - quiet, 0)
    L.m = math.floor(L.m / 2 ^ math.min(quiet, 40))
    L.tw = L.tw + quiet * d.period
  end
  if now > L.tn then
    local quiet = math.floor((now - L.tn) / d.period)
    for _ = 1, math.min(quiet, 100) do
      if L.l == 0 then break end
      L.l = math.floor(L.l * 3 / 4)
    end
    L.tn = L.tn + quiet * d.period
  end
  return L
end

-- learn: an instance's ledger state after a 429 (a = what it restarts: 1
-- the quiet period, 2 the near-miss one; 4 paced, 8 counts requests; b
-- burst halvings; margin and least margin as for admit) joins what is
-- kept: the larger of each, as one ledger seeing every instance's 429s.
if op == 'learn' then
  for i = 1, n do
    local d = dims[i]
    if d.kind == 'r' then
      local L = learned(d)
      local function bit(v) return math.floor(d.a / v) % 2 == 1 end
      -- Pacing starts: a logged dimension's window is taken as full for a
      -- window from now, since the provider just refused a request for it
      -- (Ledger::startWindowLog).
      local starts = bit(4) and L.p ~= 1 and d.logged
      if bit(1) then L.tw = now end
      if bit(2) then L.tn = now end
      if bit(4) then L.p = 1 end
      if bit(8) then L.q = 1 end
      L.h = math.max(L.h, d.b)
      -- Paced, a share is at most the ledger's most: an instance that has
      -- not met the window's 429 itself widens a bucket's margin further
      -- (to 4%), which would only put off the steps back.
      local m = d.m
      if L.p == 1 then
        m = math.min(m, MOST_PACED_MARGIN)
        L.m = math.min(L.m, MOST_PACED_MARGIN)
      end
      -- A paced share that grew restarts its quiet time (Ledger::widenPaceFor).
      if L.p == 1 and m > L.m then L.tw = now end
      L.m = math.max(L.m, m)
      L.l = math.max(L.l, d.lm)
      if starts then
        d.spec_cap = d.cap
        d.m = L.m
        d.lm = L.l
        windowOf(d)
        redis.call('DEL', d.logkey, d.valkey)
        logWrite(d, 'start', d.room, now)
      end
      redis.call('HSET', d.lkey, 'h', s(L.h), 'm', s(L.m), 'l', s(L.l), 'p', s(L.p), 'q', s(L.q),
                 'tw', s(L.tw), 'tn', s(L.tn), 'k', s(L.k))
      redis.call('PEXPIRE', d.lkey, s(math.max(KEEP_LEARNED_MS, cdiv(64 * d.period, 1000))))
    end
  end
  return {1, now}
end

-- Lapsed concurrency leases: their weight is no longer counted.
local function prune(d)
  local gone = redis.call('ZRANGEBYSCORE', d.key, '-inf', '(' .. s(now))
  for _, m in ipairs(gone) do redis.call('HDEL', d.wkey, m) end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', d.key, '-inf', '(' .. s(now)) end
end

if op == 'renew' or op == 'forget' then
  for i = 1, n do
    local d = dims[i]
    prune(d)
    if op == 'forget' then
      redis.call('HDEL', d.wkey, inst)
      redis.call('ZREM', d.key, inst)
    elseif redis.call('HEXISTS', d.wkey, inst) == 1 then
      redis.call('ZADD', d.key, s(now + lease), inst)
      redis.call('PEXPIRE', d.key, s(math.floor(lease / 500) + 1000))
      redis.call('PEXPIRE', d.wkey, s(math.floor(lease / 500) + 1000))
    end
  end
  return {1, now}
end

-- Each dimension's state now.
for i = 1, n do
  local d = dims[i]
  if d.kind == 'r' then
    local st = redis.call('HMGET', d.key, 't', 'd', 'p')
    local t = tonumber(st[1]) or now
    local debt = tonumber(st[2]) or 0
    local p = tonumber(st[3]) or d.period
    if p ~= d.period then debt = cdiv(debt, p) * d.period end
    -- a clock that steps back refills nothing
    if now > t then
      debt = debt - (now - t) * d.limit
      if debt < 0 then debt = 0 end
    end
    d.debt = debt
  elseif d.kind == 'f' then
    local st = redis.call('HMGET', d.key, 'w', 'u')
    d.win = fdiv(now + d.off, d.period)
    if tonumber(st[1]) == d.win then d.used = tonumber(st[2]) or 0 else d.used = 0 end
  else
    prune(d)
    local sum = 0
    for _, v in ipairs(redis.call('HVALS', d.wkey)) do sum = sum + tonumber(v) end
    d.used = sum
  end
end

local function store(d)
  if d.kind == 'r' then
    redis.call('HSET', d.key, 't', s(now), 'd', s(d.debt), 'p', s(d.period))
    redis.call('PEXPIRE', d.key, s(cdiv(d.debt, d.limit * 1000) + 1000))
  elseif d.kind == 'f' then
    redis.call('HSET', d.key, 'w', s(d.win), 'u', s(d.used))
    redis.call('PEXPIRE', d.key, s(cdiv((d.win + 1) * d.period - d.off - now, 1000) + 1000))
  end
end

if op == 'adjust' then
  for i = 1, n do
    local d = dims[i]
    if d.a ~= 0 or (d.kind == 'r' and (d.b > 0 or d.lm > 0)) then
      if d.kind == 'r' then
        -- A request left b µs late (Ledger::departed): while the pace is
        -- busy every later slot moves on by it; one that leaves now puts
        -- the pace at least lm µs from now, even if it was idle.
        if d.b > 0 and d.debt > 0 then d.debt = d.debt + d.b * d.limit end
        if d.lm > 0 then d.debt = math.max(d.debt, d.lm * d.limit) end
        d.debt = d.debt + d.a * d.period
        if d.debt < 0 then d.debt = 0 end
        store(d)
      elseif d.kind == 'f' then
        if d.b < 0 or d.b == d.win then
          d.used = d.used + d.a
          if d.used < 0 then d.used = 0 end
          store(d)
        end
      else
        local v = redis.call('HINCRBY', d.wkey, inst, s(d.a))
        if v <= 0 then
          redis.call('HDEL', d.wkey, inst)
          redis.call('ZREM', d.key, inst)
        end
      end
    end
  end
  return {1, now}
end

-- The arrival margin (Ledger::marginFor), in µs × limit: a share of the
-- refill time of `a` units, and for a need that fills the whole bucket the
-- learned least margin instead, at most MAX_WHOLE_MARGIN of the refill
-- time. The share is taken of whole 1/10,000ths of the refill time
-- (rounded up), so it stays exact in doubles.
local function margin(d, a)
  if d.m <= 0 or a <= 0 then return 0 end
  local part = cdiv(a * d.period, 10000)
  if a < d.cap then return part * d.m end
  local least = math.min(d.lm * d.limit, part * MAX_WHOLE_MARGIN)
  -- Paced against a window of more than one, the share alone: the window's
  -- requests together hold its jitter tolerance (Ledger::marginFor).
  if d.paced then
    if d.spec_cap > 1 then return part * d.m end
    return math.max(part * d.m, least)
  end
  return least
end
-- The margin spacing adds may be spent in a burst (Ledger::burstSlack);
-- paced, half of what the share pays over the whole configured burst, for
-- requests only.
local function slack(d, a)
  if d.paced then
    if d.m <= 0 or not d.requests then return 0 end
    return fdiv(d.spec_cap * d.period, 20000) * d.m
  end
  if d.m <= 0 or a >= d.cap then return 0 end
  return fdiv(d.cap * d.period, 10000) * d.m
end

-- What any instance learned applies to this admission as the ledger
-- applies its own: the burst narrowed (one unit when paced, never below
-- two otherwise) and the larger of the caller's margins and the learned.
for i = 1, n do
  local d = dims[i]
  if d.kind == 'r' then
    local L = learned(d)
    d.spec_cap = d.cap
    if L.p == 1 then
      d.paced = true
      d.requests = L.q == 1
      -- Windowed, it keeps its bucket's burst: what fits the window fits a
      -- bucket of the same span (Dimension::applyBurstHalvings).
      d.win = d.logged
      if not d.win then d.cap = 1 end
    end
    if L.h > 0 and not (L.p == 1 and not d.win) then
      d.cap = math.max(math.min(2, d.cap), math.floor(d.cap / 2 ^ math.min(L.h, 60)))
    end
    d.m = math.max(d.m, L.m)
    if d.paced then d.m = math.min(d.m, MOST_PACED_MARGIN) end
    d.lm = math.max(d.lm, L.l)
    if d.win then windowOf(d) end
  end
end

-- admit: every dimension fits its need, or nothing is written.
local wait, bind, conc, fshort = -1, 0, 0, false
for i = 1, n do
  local d = dims[i]
  if d.a > 0 then
    -- A rolling bucket takes a request above its burst when full (into
    -- debt); only one above the whole per-period limit never fits.
    if d.kind == 'r' then
      if d.a > d.limit then return {-1, now, -1, i, 0} end
    elseif d.a > d.cap then return {-1, now, -1, i, 0} end
    if d.kind == 'r' then
      -- Below the burst the need fits with its own margin (Ledger::ownMargin).
      local own = 0
      if not d.paced and d.a < d.cap then own = margin(d, d.a) end
      local after = d.debt + math.min(d.a, d.cap) * d.period + own - d.cap * d.period - slack(d, d.a)
      local w = -1
      if after > 0 then w = cdiv(after, d.limit) end
      if d.win then
        local ww = windowWait(d)
        if ww > 0 and ww > w then w = ww end
      end
      if w > wait then wait = w; bind = i end
    elseif d.kind == 'f' then
      if d.used + d.a > d.cap then
        local w = (d.win + 1) * d.period - d.off - now
        if w > wait then wait = w; bind = i end
        fshort = true
      end
    elseif d.used + d.a > d.cap and conc == 0 then
      conc = i
    end
  end
end
-- Only rolling dimensions waiting, and not long: the need is booked at the
-- time it fits (its debits are taken now, as a request sent then), so
-- instances waiting for the same limit are served in the order they asked,
-- not by who polls first when it refills. Nothing beyond the need.
local booked = false
if wait >= 0 and conc == 0 and not fshort and wait <= bookAhead then
  booked = true
elseif wait >= 0 or conc > 0 then
  if wait < 0 then bind = conc end
  return {0, now, wait, bind, conc}
end
local out = {1, now, 0, 0, 0}
if booked then out = {2, now, wait, bind, 0} end
for i = 1, n do
  local d = dims[i]
  local room
  if d.kind == 'r' then room = fdiv(d.cap * d.period - d.debt, d.period) else room = d.cap - d.used end
  local g = math.min(d.b, room)
  -- A windowed dimension grants the need alone: each request is logged.
  if g < d.a or booked or d.win then g = d.a end
  if g < 0 then g = 0 end
  if g > 0 then
    if d.kind == 'r' then
      -- the need's margin, and the share for the rest of the slice
      d.debt = d.debt + g * d.period + margin(d, math.min(d.a, g)) + margin(d, g - math.min(d.a, g))
      store(d)
      if d.win then
        local at = now
        if booked then at = now + wait end
        logWrite(d, entry, g, at, true)
      end
    elseif d.kind == 'f' then
      d.used = d.used + g
      store(d)
    else
      redis.call('HINCRBY', d.wkey, inst, s(g))
      redis.call('ZADD', d.key, s(now + lease), inst)
      redis.call('PEXPIRE', d.key, s(math.floor(lease / 500) + 1000))
      redis.call('PEXPIRE', d.wkey, s(math.floor(lease / 500) + 1000))
    end
  end
  out[5 + i] = g
  if d.win then out[5 + n + i] = 1 else out[5 + n + i] = 0 end
end
return out
)LUA";

// SHA-1 (FIPS 180-1), for EVALSHA: the digest Redis names a script by.
std::string sha1Hex(const std::string& text)
{
    std::array<std::uint32_t, 5> h{0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    std::string msg = text;
    const std::uint64_t bits = static_cast<std::uint64_t>(text.size()) * 8;
    msg.push_back(static_cast<char>(0x80));
    while (msg.size() % 64 != 56) {
        msg.push_back('\0');
    }
    for (int i = 7; i >= 0; --i) {
        msg.push_back(static_cast<char>((bits >> (i * 8)) & 0xffu));
    }
    const auto rol = [](std::uint32_t v, int s) { return (v << s) | (v >> (32 - s)); };
    for (std::size_t chunk = 0; chunk < msg.size(); chunk += 64) {
        std::array<std::uint32_t, 80> w{};
        for (std::size_t i = 0; i < 16; ++i) {
            const auto byte = [&](std::size_t j) {
                return static_cast<std::uint32_t>(static_cast<unsigned char>(msg[chunk + i * 4 + j]));
            };
            w[i] = (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
        }
        for (std::size_t i = 16; i < 80; ++i) {
            w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        }
        std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (std::size_t i = 0; i < 80; ++i) {
            std::uint32_t f = 0;
            std::uint32_t kk = 0;
            if (i < 20) {
                f = (b & c) | (~b & d);
                kk = 0x5A827999u;
            } else if (i < 40) {
                f = b ^ c ^ d;
                kk = 0x6ED9EBA1u;
            } else if (i < 60) {
                f = (b & c) | (b & d) | (c & d);
                kk = 0x8F1BBCDCu;
            } else {
                f = b ^ c ^ d;
                kk = 0xCA62C1D6u;
            }
            const std::uint32_t t = rol(a, 5) + f + e + kk + w[i];
            e = d;
            d = c;
            c = rol(b, 30);
            b = a;
            a = t;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
    }
    std::string out;
    char buf[9];
    for (std::uint32_t v : h) {
        std::snprintf(buf, sizeof buf, "%08x", v);
        out += buf;
    }
    return out;
}

}  // namespace

BudgetScript::BudgetScript() : m_sha(sha1Hex(kSource)) {}

const std::string& BudgetScript::source()
{
    return kSource;
}

RedisReply BudgetScript::call(RedisConnection& c, const std::vector<std::string>& keys,
                              const std::vector<std::string>& args) const
{
    std::vector<std::string> cmd{"EVALSHA", m_sha, std::to_string(keys.size())};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    RedisReply r = c.command(cmd);
    if (r.isError() && r.string().rfind("NOSCRIPT", 0) == 0) {
        // A restarted or new server: load it once, then as before.
        c.checked({"SCRIPT", "LOAD", kSource});
        r = c.command(cmd);
    }
    if (r.isError()) {
        throw RedisError("redis: budget script: " + r.string());
    }
    return r;
}

RedisReply BudgetScript::run(RedisConnection& c, const std::string& op, const std::vector<ScriptDim>& dims,
                             const std::string& instance, std::int64_t leaseUs,
                             std::optional<std::int64_t> nowUs, std::int64_t bookAheadUs,
                             const std::string& entry) const
{
    std::vector<std::string> keys;
    std::vector<std::string> args{op, nowUs ? std::to_string(*nowUs) : std::string(), instance,
                                  std::to_string(leaseUs), std::to_string(bookAheadUs), entry};
    keys.reserve(dims.size() * 4);
    args.reserve(6 + dims.size() * 10);
    for (const ScriptDim& d : dims) {
        keys.push_back(d.key);
        if (d.kind == 'c') {
            keys.push_back(d.weightKey);
        } else if (d.kind == 'r') {
            keys.push_back(learnedKey(d));
            keys.push_back(logKey(d.key));
            keys.push_back(logSizesKey(d.key));
        }
        args.push_back(std::string(1, d.kind));
        args.push_back(std::to_string(d.limit));
        args.push_back(std::to_string(d.periodUs));
        args.push_back(std::to_string(d.cap));
        args.push_back(std::to_string(d.a));
        args.push_back(std::to_string(d.b));
        args.push_back(std::to_string(d.offsetUs));
        args.push_back(std::to_string(d.marginPer10k));
        args.push_back(std::to_string(d.leastMarginUs));
        args.push_back(d.logged ? "1" : "0");
    }
    return call(c, keys, args);
}

ScriptResult BudgetScript::admit(RedisConnection& c, const std::vector<ScriptDim>& dims,
                                 const std::string& instance, std::int64_t leaseUs,
                                 std::optional<std::int64_t> nowUs, std::int64_t bookAheadUs,
                                 const std::string& entry) const
{
    const RedisReply r = run(c, "admit", dims, instance, leaseUs, nowUs, bookAheadUs, entry);
    ScriptResult out;
    const std::int64_t status = r.integerAt(0);
    out.nowUs = r.integerAt(1);
    if (status < 0) {
        out.status = ScriptResult::Status::Never;
        out.binding = static_cast<int>(r.integerAt(3)) - 1;
        return out;
    }
    if (status == 0) {
        out.status = ScriptResult::Status::Wait;
        out.waitUs = r.integerAt(2);
        out.binding = static_cast<int>(r.integerAt(3)) - 1;
        out.concurrencyFull = r.integerAt(4) > 0;
        return out;
    }
    out.status = status == 2 ? ScriptResult::Status::Booked : ScriptResult::Status::Admit;
    if (out.status == ScriptResult::Status::Booked) {
        out.waitUs = r.integerAt(2);
        out.binding = static_cast<int>(r.integerAt(3)) - 1;
    }
    out.grants.resize(dims.size());
    out.windowed.resize(dims.size());
    for (std::size_t i = 0; i < dims.size(); ++i) {
        out.grants[i] = r.integerAt(5 + i);
        out.windowed[i] = r.integerAt(5 + dims.size() + i) != 0;
    }
    return out;
}

void BudgetScript::fixLog(RedisConnection& c, const std::vector<LogFix>& fixes, std::optional<std::int64_t> nowUs) const
{
    std::vector<std::string> keys;
    std::vector<std::string> args{"logfix", nowUs ? std::to_string(*nowUs) : std::string(), "", "0", "0", ""};
    args.reserve(6 + fixes.size() * 4);
    for (const LogFix& f : fixes) {
        // Each dimension's pair of keys once, however many of its entries.
        std::size_t pair = 0;
        while (pair * 2 < keys.size() && keys[pair * 2] != logKey(f.key)) {
            ++pair;
        }
        if (pair * 2 == keys.size()) {
            keys.push_back(logKey(f.key));
            keys.push_back(logSizesKey(f.key));
        }
        args.push_back(std::to_string(pair + 1));
        args.push_back(f.entry);
        args.push_back(std::to_string(f.delta));
        args.push_back(std::to_string(f.leftAtUs));
    }
    if (!fixes.empty()) {
        call(c, keys, args);
    }
}

void BudgetScript::adjust(RedisConnection& c, const std::vector<ScriptDim>& dims, const std::string& instance,
                          std::int64_t leaseUs, std::optional<std::int64_t> nowUs) const
{
    run(c, "adjust", dims, instance, leaseUs, nowUs);
}

void BudgetScript::renew(RedisConnection& c, const std::vector<ScriptDim>& dims, const std::string& instance,
                         std::int64_t leaseUs, std::optional<std::int64_t> nowUs) const
{
    run(c, "renew", dims, instance, leaseUs, nowUs);
}

void BudgetScript::forget(RedisConnection& c, const std::vector<ScriptDim>& dims, const std::string& instance,
                          std::optional<std::int64_t> nowUs) const
{
    run(c, "forget", dims, instance, 0, nowUs);
}

void BudgetScript::learn(RedisConnection& c, const std::vector<ScriptDim>& dims, const std::string& instance,
                         std::optional<std::int64_t> nowUs) const
{
    run(c, "learn", dims, instance, 0, nowUs);
}

std::string learnedKey(const ScriptDim& d)
{
    return d.key + "|learned";
}

std::string logKey(const std::string& key)
{
    return key + "|log";
}

std::string logSizesKey(const std::string& key)
{
    return key + "|logsize";
}

std::int64_t BudgetScript::heartbeat(RedisConnection& c, const std::string& instancesKey,
                                     const std::string& instance, std::int64_t ttlUs) const
{
    return call(c, {instancesKey}, {"hb", "", instance, std::to_string(ttlUs)}).integer();
}

}  // namespace sluice::shared
