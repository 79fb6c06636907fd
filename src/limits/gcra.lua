-- The query budget shared by every instance: GCRA (the generic cell rate
-- algorithm), as `governor` runs it per instance, on a state kept in Redis.
-- Run with EVALSHA: one round trip per request, and atomic (Redis runs one
-- script at a time), so two instances charging one caller cannot both spend
-- the last of its budget.
--
-- KEYS[1]  the caller's key
-- ARGV[1]  t: microseconds one unit of budget takes to come back
--          (60 s / budget; a fraction for budgets over 60 million)
-- ARGV[2]  q: the budget, which is also the most that may be spent at once
-- ARGV[3]  n: the cost to spend
--
-- The state is one number, the TAT ("theoretical arrival time"): when the
-- caller's budget would be full again. A caller with no key is full.
-- Spending n moves the TAT n * t later (from now, if it lay in the past);
-- it may be spent when the TAT would then be at most q * t from now,
-- i.e. when n units are left. Time is Redis' own clock (TIME), so the
-- instances' clocks need not agree.
--
-- Returns {spent (1 or 0), units left now, milliseconds}: when spent, the
-- time until the budget is full again (the key expires then: an expired key
-- and a full budget are the same state); when not, the time until n fits.

local t = tonumber(ARGV[1])
local q = tonumber(ARGV[2])
local n = tonumber(ARGV[3])

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

-- `tau` is how far ahead of now the TAT may lie and one more unit still
-- be spent: the budget less the unit itself.
local tau = t * (q - 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end

local function units_left(at)
  return math.max(0, math.floor(math.min(now + tau + t - at, tau + t) / t))
end

-- The last of the n units must fit like a single one would.
local earliest = tat + t * (n - 1) - tau
if now < earliest then
  return {0, units_left(tat), math.ceil((earliest - now) / 1000)}
end

local new_tat = tat + n * t
local full_in = math.ceil((new_tat - now) / 1000)
-- %.17g keeps every digit of a microsecond time (tostring keeps 14).
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', full_in)
return {1, units_left(new_tat), full_in}
