// bench/http/ts_server.mjs — the reference server of bench/http: the official TypeScript SDK's
// McpServer behind its StreamableHTTPServerTransport, with the same echo tool as mcpd's demo
// tools, served the way the SDK's own stateful example does (one transport per session, found
// by Mcp-Session-Id; an initialize without one creates it), on Node's plain http module.
//
// Usage: node ts_server.mjs <node_tools dir> [--port N] [--json]
//   --json: answer POSTs with application/json (enableJsonResponse), else with an SSE stream.
// Prints "listening on <port>" once ready.
import { randomUUID } from "node:crypto";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";

const args = process.argv.slice(2);
const toolsDir = args[0];
if (!toolsDir) {
  console.error("usage: node ts_server.mjs <node_tools dir> [--port N] [--json]");
  process.exit(2);
}
const portAt = args.indexOf("--port");
const port = portAt >= 0 ? Number(args[portAt + 1]) : 0;
const json = args.includes("--json");

// The SDK and zod are installed in build/node_tools (scripts/node-tools), not next to this file.
const require = createRequire(path.join(path.resolve(toolsDir), "package.json"));
const { McpServer } = require("@modelcontextprotocol/sdk/server/mcp.js");
const { StreamableHTTPServerTransport } = require("@modelcontextprotocol/sdk/server/streamableHttp.js");
const { isInitializeRequest } = require("@modelcontextprotocol/sdk/types.js");
const { z } = require("zod");

function makeServer() {
  const server = new McpServer({ name: "ts-bench", version: "1.0.0" });
  server.registerTool(
    "echo",
    {
      title: "Echo",
      description: "Returns its text argument unchanged",
      inputSchema: { text: z.string().describe("What to echo") },
      annotations: { readOnlyHint: true, idempotentHint: true },
    },
    async ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  return server;
}

const transports = new Map(); // session id → transport

function reply(res, status, message) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32000, message } }));
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const httpServer = http.createServer(async (req, res) => {
  try {
    if (!req.url.startsWith("/mcp")) return reply(res, 404, "Not found");
    const sessionId = req.headers["mcp-session-id"];
    const body = req.method === "POST" ? await readJson(req) : undefined;
    let transport = sessionId ? transports.get(sessionId) : undefined;
    if (!transport) {
      if (sessionId) return reply(res, 404, "Session not found");
      if (req.method !== "POST" || !isInitializeRequest(body))
        return reply(res, 400, "Bad Request: no valid session id");
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: json,
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      transport.onclose = () => {
        if (transport.sessionId) transports.delete(transport.sessionId);
      };
      await makeServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  } catch (e) {
    if (!res.headersSent) reply(res, 400, `Bad Request: ${e.message}`);
  }
});
httpServer.keepAliveTimeout = 60_000;
httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening on ${httpServer.address().port}`);
});
