-- wrk script for bench/writes.sh: every request is one write of WRITE_OP
-- (bench/writes/<op>.graphql) by the viewer TOKEN, with input no request
-- before it used:
--   addComment       on a random article of SLUGS (one slug a line);
--   favoriteArticle  on the next article of SLUGS that this thread has not
--                    taken yet (threads take turns through the list), so a
--                    fresh viewer never favorites one article twice;
--   createArticle    titled after RUN, the thread and a counter.
local op = os.getenv("WRITE_OP")
local token = os.getenv("TOKEN")
local run = os.getenv("RUN") or "0"
local dir = os.getenv("WRITES_DIR")

local threads = {}
local count = 0

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

local function json_string(s)
  s = s:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('\n', '\\n')
  return '"' .. s .. '"'
end

local query, slugs, taken, total, headers

function init(args)
  local file = assert(io.open(dir .. "/" .. op .. ".graphql"))
  query = json_string(file:read("*a"))
  file:close()
  slugs = {}
  for line in io.lines(os.getenv("SLUGS")) do
    slugs[#slugs + 1] = line
  end
  math.randomseed(os.time() + index)
  taken = 0
  total = tonumber(os.getenv("THREADS"))
  headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
end

function request()
  local variables
  if op == "addComment" then
    variables = '{"s":' .. json_string(slugs[math.random(#slugs)]) .. '}'
  elseif op == "favoriteArticle" then
    local at = index + taken * total
    if at >= #slugs then
      error("favoriteArticle ran out of articles: " .. #slugs .. " taken")
    end
    taken = taken + 1
    variables = '{"s":' .. json_string(slugs[at + 1]) .. '}'
  else
    taken = taken + 1
    variables = '{"title":"Write benchmark ' .. run .. ' ' .. index .. ' ' .. taken .. '"}'
  end
  return wrk.format("POST", "/graphql", headers, '{"query":' .. query .. ',"variables":' .. variables .. '}')
end
