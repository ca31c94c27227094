"""The Lua script that merges one process's changes into a partition, atomically.

Redis runs a script without interleaving any other command, so writers on different
machines never lose each other's tokens and never retry. The script

1. reads the stored partition (unless the change is a ``replace``); a value that is not a
   JSON object counts as empty;
2. applies the puts: an entry replaces the stored one under the same key unless the
   stored one is newer (``last_modification_time``, else ``cached_at``, compared as
   numbers; on a tie, or when either has no stamp, the writer wins);
3. applies the deletes: the stored entry goes unless it is newer than the one the writer
   deleted (someone wrote it again since);
4. drops expired access tokens (``expires_on`` before ``now`` or unreadable);
5. stores the result with an expiry: ``idle_ttl`` when it holds anything besides access
   tokens and app metadata (refresh tokens, accounts...: kept while in use), else until
   the latest access token expires; deletes the key when nothing but app metadata is left;
6. returns the stored JSON (nil when the key was deleted), so the writer refreshes its
   in-process copy with other writers' tokens in the same round trip.

KEYS[1] = the partition's key; ARGV = changes JSON, now (epoch seconds), idle_ttl (s).
"""

from __future__ import annotations

MERGE_SCRIPT = r"""
local function stamp(entry)
  if type(entry) ~= 'table' then return nil end
  return tonumber(entry['last_modification_time']) or tonumber(entry['cached_at'])
end
local function newer(stored, than)
  return stored ~= nil and than ~= nil and stored > than
end

local changes = cjson.decode(ARGV[1])
local now = tonumber(ARGV[2])
local idle_ttl = tonumber(ARGV[3])

local state = {}
if changes['replace'] ~= true then
  local raw = redis.call('GET', KEYS[1])
  if raw then
    local ok, decoded = pcall(cjson.decode, raw)
    if ok and type(decoded) == 'table' then state = decoded end
  end
end

for section, entries in pairs(changes['put']) do
  local stored = state[section]
  if type(stored) ~= 'table' then
    stored = {}
    state[section] = stored
  end
  for key, entry in pairs(entries) do
    if not newer(stamp(stored[key]), stamp(entry)) then stored[key] = entry end
  end
end

for section, entries in pairs(changes['del']) do
  local stored = state[section]
  if type(stored) == 'table' then
    for key, deleted in pairs(entries) do
      if stored[key] ~= nil and not newer(stamp(stored[key]), tonumber(deleted)) then
        stored[key] = nil
      end
    end
  end
end

local latest = nil
local lasting = false
for section, entries in pairs(state) do
  if type(entries) == 'table' then
    for key, entry in pairs(entries) do
      if section == 'AccessToken' then
        local expires = nil
        if type(entry) == 'table' then expires = tonumber(entry['expires_on']) end
        if expires == nil or expires < now then
          entries[key] = nil
        elseif latest == nil or expires > latest then
          latest = expires
        end
      elseif section ~= 'AppMetadata' then
        lasting = true
      end
    end
  end
end

if not lasting and latest == nil then
  redis.call('DEL', KEYS[1])
  return false
end
local ttl = idle_ttl
if not lasting then ttl = latest - now end
ttl = math.max(1, math.floor(ttl))
local encoded = cjson.encode(state)
redis.call('SET', KEYS[1], encoded, 'EX', ttl)
return encoded
"""
