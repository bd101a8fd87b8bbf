-- bench/guards/request.lua — wrk script: one tools/call per request on an MCP session.
-- Environment: SESSION (Mcp-Session-Id), TOOL (tool name), ARGS ("text" for {"text": …}, else
-- none), UNIQUE=1 to make each request's text unique (distinct lock keys: every call acquires
-- and releases).
local counter = 0
local tid = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["Mcp-Session-Id"] = os.getenv("SESSION")
  wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
end

local tool = os.getenv("TOOL")
local with_text = os.getenv("ARGS") == "text"
local unique = os.getenv("UNIQUE") == "1"

function request()
  counter = counter + 1
  local args = "{}"
  if with_text then
    local t = "hello"
    if unique then t = tid .. "-" .. counter end
    args = '{"text":"' .. t .. '"}'
  end
  local body = '{"jsonrpc":"2.0","id":' .. counter .. ',"method":"tools/call","params":{"name":"' ..
    tool .. '","arguments":' .. args .. '}}'
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.stderr:write(string.format("RESULT rps=%.0f p50_us=%d p99_us=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.status))
end
