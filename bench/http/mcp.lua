-- bench/http/mcp.lua — the wrk script of bench/http: every request is a Streamable HTTP POST of
-- a tools/call of echo in the session MCP_SESSION_ID, with the headers a client sends (Accept,
-- Content-Type, Mcp-Session-Id, MCP-Protocol-Version). Request ids count up from 1000001 so
-- that no two requests in flight in the session share one; they keep seven digits, so every
-- request has the same size. At the end it prints one line for bench/http/run:
--   RESULT requests=N seconds=S rps=R p50_us=A p99_us=B errors=E
-- where errors counts connect, read, write and timeout errors and non-2xx statuses.
local session = os.getenv("MCP_SESSION_ID") or ""
local version = os.getenv("MCP_PROTOCOL_VERSION") or "2025-11-25"
local next_id = 1000000
local head

function init(args)
  head = "POST " .. wrk.path .. " HTTP/1.1\r\n" ..
         "Host: " .. wrk.host .. ":" .. wrk.port .. "\r\n" ..
         "Accept: application/json, text/event-stream\r\n" ..
         "Content-Type: application/json\r\n" ..
         "Mcp-Session-Id: " .. session .. "\r\n" ..
         "MCP-Protocol-Version: " .. version .. "\r\n" ..
         "Content-Length: "
end

function request()
  next_id = next_id + 1
  local body = '{"jsonrpc":"2.0","id":' .. next_id ..
               ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
  return head .. #body .. "\r\n\r\n" .. body
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format("RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end
