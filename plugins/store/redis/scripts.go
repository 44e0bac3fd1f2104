package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts below touch only the keys of one user, which share the hash
// tag {user:ID}, so each runs on one Redis Cluster slot. A script runs
// atomically: it writes everything or, when a check fails before its first
// write, nothing.
//
// The state hash holds v (version), s (the state as JSON), f (the fencing
// token of the lease the last save was made under, 0 without one) and w
// (the id of the last save, so that a retried save that already happened
// reports success instead of a conflict).

// Results of saveScript and deleteScript (the first element of the reply).
const (
	resOK         = 1
	resConflict   = -1 // the version did not match
	resLeaseLost  = -2 // the lease's token is no longer in the lease key
	resFenceStale = -3 // a save under a newer lease was stored already
)

// saveScript stores a state if the stored version matches. The history is
// trimmed to the limit when it exceeds it by an eighth (historySlack), not
// on every save: reads return the newest limit entries.
//
// KEYS: state, history, lease, fence.
// ARGV: expected version, state JSON, history entry JSON ("" for none),
// history limit (0 keeps none), retention in ms (0: no expiry), lease token
// ("" without a lease), fencing token, save id, "1" to release the lease
// with the save.
// Reply: {resOK, new version} or {res*, stored version or fence}.
var saveScript = goredis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'v', 'w', 'f')
local cur = tonumber(h[1] or '0')
local exp = tonumber(ARGV[1])
if cur == exp + 1 and h[2] == ARGV[8] then
  if ARGV[9] == '1' and redis.call('GET', KEYS[3]) == ARGV[6] then
    redis.call('DEL', KEYS[3])
  end
  return {1, cur}
end
local fence = 0
if ARGV[6] ~= '' then
  if redis.call('GET', KEYS[3]) ~= ARGV[6] then
    return {-2, cur}
  end
  fence = tonumber(ARGV[7])
  local stored = tonumber(h[3] or '0')
  if stored > fence then
    return {-3, stored}
  end
end
if cur ~= exp then
  return {-1, cur}
end
local v = cur + 1
redis.call('HSET', KEYS[1], 'v', v, 's', ARGV[2], 'f', fence, 'w', ARGV[8])
local limit = tonumber(ARGV[4])
if ARGV[3] ~= '' and limit > 0 then
  if redis.call('RPUSH', KEYS[2], ARGV[3]) > limit + math.max(1, math.floor(limit / 8)) then
    redis.call('LTRIM', KEYS[2], -limit, -1)
  end
end
local ret = tonumber(ARGV[5])
if ret > 0 then
  redis.call('PEXPIRE', KEYS[1], ret)
  redis.call('PEXPIRE', KEYS[2], ret)
  redis.call('PEXPIRE', KEYS[4], ret + 60000)
end
if ARGV[9] == '1' then
  redis.call('DEL', KEYS[3])
end
return {1, v}
`)

// deleteScript erases a user's state, history and fencing counter, if the
// caller holds the lease (when it names one).
//
// KEYS: state, history, lease, fence. ARGV: lease token ("" without a
// lease). The lease, if any, is released with the delete.
// Reply: {resOK} or {resLeaseLost}.
var deleteScript = goredis.NewScript(`
if ARGV[1] ~= '' then
  if redis.call('GET', KEYS[3]) ~= ARGV[1] then
    return {-2}
  end
  redis.call('DEL', KEYS[3])
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
return {1}
`)

// acquireScript takes a lease if it is free (or already the caller's), with
// a fencing token larger than any the user's state was saved under, and
// returns the state as it stands, which the lease now protects.
//
// KEYS: lease, fence, state. ARGV: token, lease TTL in ms, retention in ms.
// Reply: {1, fence, version or false, state JSON or false} when taken,
// {0, remaining TTL in ms} when another holder has it.
var acquireScript = goredis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return {0, redis.call('PTTL', KEYS[1])}
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) -- already ours: a retried call
end
local f = redis.call('INCR', KEYS[2])
local st = redis.call('HMGET', KEYS[3], 'v', 's', 'f')
local saved = tonumber(st[3] or '0')
if f <= saved then
  f = saved + 1
  redis.call('SET', KEYS[2], f)
end
local ret = tonumber(ARGV[3])
if ret > 0 then
  redis.call('PEXPIRE', KEYS[2], ret + tonumber(ARGV[2]) + 60000)
end
return {1, f, st[1], st[2]}
`)

// renewScript extends a lease the caller still holds.
//
// KEYS: lease. ARGV: token, lease TTL in ms. Reply: 1 renewed, 0 lost.
var renewScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// releaseScript gives a lease up if the caller still holds it.
//
// KEYS: lease. ARGV: token. Reply: 1 released, 0 not held.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// importScript replaces everything stored of a user by an exported record.
//
// KEYS: state, history, fence. ARGV: version, state JSON, retention in ms,
// history limit, then the history entries as JSON, oldest first.
var importScript = goredis.NewScript(`
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 's', ARGV[2], 'f', 0, 'w', 'import')
local limit = tonumber(ARGV[4])
local first = math.max(5, #ARGV - limit + 1)
for i = first, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
local ret = tonumber(ARGV[3])
if ret > 0 then
  redis.call('PEXPIRE', KEYS[1], ret)
  redis.call('PEXPIRE', KEYS[2], ret)
end
return 1
`)
