package entcachemodel

import (
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Every script takes two keys, a data key and its lease key, which share a
// Redis Cluster hash tag (see keyspace).
//
// The lease key is a hash: each field is an outstanding token with its expiry
// time (Redis server milliseconds), and field "~" names the latest token.
// Writers add a token before their database write (a "mark"); readers add one
// before a fill (a "lease"). A value may be written only by the holder of the
// latest token, so a publish or fill that read the database before a later
// write began is refused. While other writers' tokens are outstanding, data
// keeps their expiry: a writer that dies between its commit and its publish
// leaves the old value for at most one lease. Writer tokens start with "w",
// reader tokens with "r": a writer token found expired means its writer may
// have died after committing, so the data is removed rather than stored or
// made persistent.
//
// A key of a type the protocol never writes (a lease that is not a hash, a
// value that is neither a string nor a sorted set, or set by something else) is
// removed before anything else: with a lease gone, the data goes too, as
// after a crash, since no token may be trusted to have ordered it.
const scriptPrelude = `
local function keytype(k) return redis.call('TYPE', k)['ok'] end
local lt = keytype(KEYS[2])
if lt ~= 'hash' and lt ~= 'none' then
  redis.call('DEL', KEYS[2])
  redis.call('DEL', KEYS[1])
else
  local dt = keytype(KEYS[1])
  if dt ~= 'string' and dt ~= 'zset' and dt ~= 'none' then redis.call('DEL', KEYS[1]) end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local crashed = false
local function scan(mine)
  local kv = redis.call('HGETALL', KEYS[2])
  local n, maxexp, held = 0, 0, false
  for i = 1, #kv, 2 do
    local f = kv[i]
    if f ~= '~' then
      local e = tonumber(kv[i + 1])
      if e == nil or e <= now then
        redis.call('HDEL', KEYS[2], f)
        -- A writer's mark that ran out: the writer may have committed and
        -- died. Data stored since its mark may lack its write.
        if string.sub(f, 1, 1) == 'w' then crashed = true end
      elseif f == mine then
        held = true
      else
        n = n + 1
        if e > maxexp then maxexp = e end
      end
    end
  end
  if crashed then
    -- No token issued before now may store data: they may all predate
    -- the lost write. Tokens issued from now on read the database after it.
    redis.call('HDEL', KEYS[2], '~')
    redis.call('DEL', KEYS[1])
  end
  return n, maxexp, held
end
`

// markScript: ARGV token, lease ms. Adds a writer token, makes it the latest,
// and bounds the life of the current data to the lease (an earlier expiry
// stays).
var markScript = redis.NewScript(scriptPrelude + `
local n, maxexp = scan('')
if crashed then redis.call('DEL', KEYS[1]) end
local exp = now + tonumber(ARGV[2])
if exp > maxexp then maxexp = exp end
redis.call('HSET', KEYS[2], ARGV[1], exp, '~', ARGV[1])
redis.call('PEXPIREAT', KEYS[2], maxexp)
-- Never extend an expiry: another writer's mark bounded the data, and that
-- writer may have committed and died.
local pt = redis.call('PTTL', KEYS[1])
if pt < 0 or now + pt > maxexp then redis.call('PEXPIREAT', KEYS[1], maxexp) end
return 1
`)

// leaseScript: ARGV token, lease ms, check. Grants a fill lease when no
// token is outstanding (returns 1); returns 0 when busy. With check "get" it
// first returns the value itself if one was stored since the caller missed.
var leaseScript = redis.NewScript(scriptPrelude + `
if ARGV[3] == 'get' then
  -- A row's value is a string.
  if keytype(KEYS[1]) == 'zset' then redis.call('DEL', KEYS[1]) end
  local v = redis.call('GET', KEYS[1])
  if v then return v end
end
local n = scan('')
if crashed then redis.call('DEL', KEYS[1]) end
if n > 0 then return 0 end
local exp = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], exp, '~', ARGV[1])
redis.call('PEXPIREAT', KEYS[2], exp)
return 1
`)

// setScript: ARGV token, value, mode. Stores the value if the token is the
// latest; with mode "publish" a refused value also removes the data (its
// writer cannot tell whether it is newer or older than what is there).
// Returns 1 when stored.
var setScript = redis.NewScript(scriptPrelude + `
local n, maxexp, held = scan(ARGV[1])
local ok = held and not crashed and redis.call('HGET', KEYS[2], '~') == ARGV[1]
redis.call('HDEL', KEYS[2], ARGV[1])
if ok then
  redis.call('HDEL', KEYS[2], '~')
  redis.call('SET', KEYS[1], ARGV[2])
  if n > 0 then redis.call('PEXPIREAT', KEYS[1], maxexp) end
  return 1
end
if ARGV[3] == 'publish' or crashed then
  redis.call('HDEL', KEYS[2], '~')
  redis.call('DEL', KEYS[1])
end
return 0
`)

// removeScript: ARGV token. Removes the data and ends the token; pending
// fills are refused.
var removeScript = redis.NewScript(scriptPrelude + `
scan(ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1], '~')
redis.call('DEL', KEYS[1])
return 1
`)

// releaseScript: ARGV token. Ends a token without touching the data, which
// keeps any expiry a mark gave it.
var releaseScript = redis.NewScript(scriptPrelude + `
scan(ARGV[1])
if redis.call('HGET', KEYS[2], '~') == ARGV[1] then redis.call('HDEL', KEYS[2], '~') end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`)

// listAddScript: ARGV token (may be empty), score, member. Adds the member
// to a cached list if the list exists. Without a valid token it also
// refuses pending fills, which may have read the database before this
// write.
var listAddScript = redis.NewScript(scriptPrelude + `
local n, maxexp, held = scan(ARGV[1])
if crashed or keytype(KEYS[1]) == 'string' then
  -- A list is a sorted set.
  redis.call('DEL', KEYS[1])
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  if held and n == 0 and redis.call('HGET', KEYS[2], '~') == ARGV[1] then redis.call('PERSIST', KEYS[1]) end
end
if (not held) or redis.call('HGET', KEYS[2], '~') == ARGV[1] then redis.call('HDEL', KEYS[2], '~') end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`)

// listFillScript: ARGV token, then score and member pairs. Replaces a list
// if the token is the latest. The member "#" marks a list as present even
// when it is empty.
var listFillScript = redis.NewScript(scriptPrelude + `
local n, maxexp, held = scan(ARGV[1])
local ok = held and not crashed and redis.call('HGET', KEYS[2], '~') == ARGV[1]
redis.call('HDEL', KEYS[2], ARGV[1])
if crashed then redis.call('DEL', KEYS[1]) end
if not ok then return 0 end
redis.call('HDEL', KEYS[2], '~')
redis.call('DEL', KEYS[1])
local batch = {}
for i = 2, #ARGV - 1, 2 do
  batch[#batch + 1] = ARGV[i]
  batch[#batch + 1] = ARGV[i + 1]
  if #batch == 2000 then
    redis.call('ZADD', KEYS[1], unpack(batch))
    batch = {}
  end
end
if #batch > 0 then redis.call('ZADD', KEYS[1], unpack(batch)) end
if n > 0 then redis.call('PEXPIREAT', KEYS[1], maxexp) end
return 1
`)

// A cached list is a sorted set (see ListBy). An integer id is its own
// member, in decimal (which Redis stores as an integer), scored by its
// value: a list holding an id beyond ±2^53, which a score cannot hold
// exactly, is never stored. Any other id is "=" and its text, all scored
// 0, so that members order as their bytes do (ZRANGEBYLEX). The member
// "#" marks a list as present even when it is empty, scored -inf (or 0
// among texts, before every "=").

// listPresent is the member that marks a cached list as present.
const listPresent = "#"

// listFormat is the storage form of lists, part of every list's definition
// in the registry: processes that store lists differently (the sets of
// earlier versions) never share a list namespace, and a list is not served
// while both run (see versions.go).
const listFormat = ".z1"

// maxScoreID is the largest integer a score (a float64) holds exactly,
// with every integer below it.
const maxScoreID = 1 << 53

// listMemberOf encodes the text of an id of the kind as a list member
// (never equal to listPresent).
func listMemberOf(kind IDKind, text string) string {
	if kind == IntID {
		return text
	}
	return "=" + text
}

// listScoreOf returns the score of the member of an id of the kind with
// the text, and false when no score holds it exactly.
func listScoreOf(kind IDKind, text string) (string, bool) {
	if kind != IntID {
		return "0", true
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return text, n <= maxScoreID && n >= -maxScoreID
	}
	return "", false
}

// listPresentScore is the score of listPresent in a list of ids of the kind.
func listPresentScore(kind IDKind) string {
	if kind == IntID {
		return "-inf"
	}
	return "0"
}

var allScripts = []*redis.Script{markScript, leaseScript, setScript, removeScript, releaseScript, listAddScript, listFillScript, watchScript, joinScript}

// listEntry returns the member of id in a cached list, and its score;
// false when no score holds the id exactly (the list is not stored).
func (s *Schema[T, ID]) listEntry(id ID) (member, score string, ok bool) {
	text := s.FormatID(id)
	score, ok = listScoreOf(s.IDKind, text)
	return listMemberOf(s.IDKind, text), score, ok
}
