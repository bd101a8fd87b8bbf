// bench/guards/node_server.mjs — the reference for bench/guards: the Redis guide's Node MCP
// server patterns, as the guide writes them (ioredis, withCache, checkRateLimit with the guide's
// Lua script, withLock with SET NX PX and the compare-and-delete release), behind the official
// TypeScript SDK's Streamable HTTP transport (JSON responses, like `mcpd serve --json-response`).
// Usage: node node_server.mjs <node_tools dir> <port> <redis port>
import http from "node:http";
import crypto from "node:crypto";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const [toolsDir, port, redisPort] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(toolsDir), "package.json"));
const Redis = require("ioredis");
const sdk = (p) =>
  import(pathToFileURL(path.join(path.resolve(toolsDir), "node_modules/@modelcontextprotocol/sdk/dist/esm", p)).href);
const { McpServer } = await sdk("server/mcp.js");
const { StreamableHTTPServerTransport } = await sdk("server/streamableHttp.js");
const { z } = require("zod");

// The guide's client singleton, and a second client without the offline queue for rate limits.
const options = {
  host: "127.0.0.1",
  port: Number(redisPort),
  retryStrategy: (times) => Math.min(times * 50, 2000),
  maxRetriesPerRequest: 3,
  keyPrefix: "mcp:",
  enableOfflineQueue: true,
};
const redis = new Redis(options);
const rateRedis = new Redis({ ...options, enableOfflineQueue: false });
for (const c of [redis, rateRedis]) c.on("error", (err) => console.error("Redis error:", err.message));

async function withCache(key, ttlSeconds, fn) {
  try {
    const cached = await redis.get(key);
    if (cached !== null) return JSON.parse(cached);
  } catch {}
  const result = await fn();
  try {
    await redis.setex(key, ttlSeconds, JSON.stringify(result));
  } catch {}
  return result;
}

const RATE_LIMIT_SCRIPT = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local window_start = now - window
redis.call('ZREMRANGEBYSCORE', key, '-inf', window_start)
local count = redis.call('ZCARD', key)
if count >= limit then
return 0
end
redis.call('ZADD', key, now, now .. ':' .. math.random(1000000))
redis.call('EXPIRE', key, ttl)
return 1
`;
// The guide's function with its window made a parameter (the bench uses the same 1 s window
// for both servers).
async function checkRateLimit(sessionId, toolName, maxPerWindow, windowMs) {
  const key = `ratelimit:${sessionId}:${toolName}`;
  const result = await rateRedis.eval(RATE_LIMIT_SCRIPT, 1, key, Date.now(), windowMs, maxPerWindow, 2);
  return result === 1;
}

async function withLock(resource, ttlMs, fn) {
  const lockKey = `lock:${resource}`;
  const lockValue = crypto.randomBytes(16).toString("hex");
  const acquired = await redis.set(lockKey, lockValue, "PX", ttlMs, "NX");
  if (!acquired) return null;
  try {
    return await fn();
  } finally {
    const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
return redis.call('DEL', KEYS[1])
else
return 0
end
`;
    await redis.eval(releaseScript, 1, lockKey, lockValue);
  }
}

function buildServer(sessionRef) {
  const server = new McpServer({ name: "node-reference", version: "1.0.0" });
  const text = (t, isError = false) => ({ content: [{ type: "text", text: t }], ...(isError ? { isError } : {}) });
  server.registerTool("echo", { inputSchema: { text: z.string() } }, async ({ text: t }) => text(t));
  server.registerTool("server_time", { inputSchema: {} }, async () => {
    const reading = await withCache("cache:server_time", 300, async () => ({ unix_ms: Date.now() }));
    return text(JSON.stringify(reading));
  });
  server.registerTool("limited_echo", { inputSchema: { text: z.string() } }, async ({ text: t }) => {
    if (!(await checkRateLimit(sessionRef.id, "echo", 1000000000, 1000)))
      return text("Rate limit exceeded: max 1000000000 echo calls per second", true);
    return text(t);
  });
  server.registerTool("locked_echo", { inputSchema: { text: z.string() } }, async ({ text: t }) => {
    const r = await withLock(`bench-${t}`, 10000, async () => t);
    if (r === null) return text("Operation in progress — try again in a moment", true);
    return text(r);
  });
  return server;
}

const transports = new Map();
http
  .createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
    const sid = req.headers["mcp-session-id"];
    let transport = sid ? transports.get(sid) : undefined;
    if (!transport) {
      const sessionRef = { id: "" };
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        enableJsonResponse: true,
        onsessioninitialized: (id) => {
          sessionRef.id = id;
          transports.set(id, transport);
        },
      });
      await buildServer(sessionRef).connect(transport);
    }
    await transport.handleRequest(req, res, body);
  })
  .listen(Number(port), "127.0.0.1", () => console.error(`node reference on http://127.0.0.1:${port}/mcp`));
