// tests/gateway/list_changed_server.mjs — an MCP server on the official TypeScript SDK
// (McpServer over Streamable HTTP, stateful) whose tool list changes while a client is
// connected: calling `unlock` registers the tool `secret`, and the SDK sends
// notifications/tools/list_changed on the session's GET stream. For the gateway's test that such
// a change reaches the browser as a new tools_discovered event (gateway_e2e.mjs).
//
// Usage: node list_changed_server.mjs <node_tools dir>
// Listens on an ephemeral 127.0.0.1 port and prints "listening on http://127.0.0.1:PORT" (/mcp).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir] = process.argv.slice(2);
if (!toolsDir) {
    console.error('usage: list_changed_server.mjs <node_tools dir>');
    process.exit(2);
}
const sdkDir = path.join(toolsDir, 'node_modules/@modelcontextprotocol/sdk/dist/esm');
const sdk = async (file) => import(pathToFileURL(path.join(sdkDir, file)).href);
const { McpServer } = await sdk('server/mcp.js');
const { StreamableHTTPServerTransport } = await sdk('server/streamableHttp.js');

function makeServer() {
    const server = new McpServer({ name: 'list-changed', version: '1.0.0' });
    server.registerTool('unlock', { description: 'Adds the tool `secret`' }, async () => {
        if (!server.isConnected() || unlocked.has(server)) return { content: [{ type: 'text', text: 'already' }] };
        unlocked.add(server);
        server.registerTool('secret', { description: 'There after unlock' }, async () => ({ content: [{ type: 'text', text: 'found' }] }));
        return { content: [{ type: 'text', text: 'unlocked' }] };
    });
    return server;
}
const unlocked = new WeakSet();

const sessions = new Map();
const readBody = (req) => new Promise((resolve) => {
    let text = '';
    req.on('data', (d) => { text += d; });
    req.on('end', () => resolve(text ? JSON.parse(text) : undefined));
});

const listener = async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname !== '/mcp') return res.writeHead(404).end('Not found');
    const body = req.method === 'POST' ? await readBody(req) : undefined;
    const sid = req.headers['mcp-session-id'];
    if (sid && sessions.has(sid)) return sessions.get(sid).handleRequest(req, res, body);
    if (sid || req.method !== 'POST') return res.writeHead(sid ? 404 : 405).end();
    const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => sessions.set(id, transport),
    });
    transport.onclose = () => { if (transport.sessionId) sessions.delete(transport.sessionId); };
    await makeServer().connect(transport);
    return transport.handleRequest(req, res, body);
};
const server = http.createServer((req, res) => listener(req, res).catch((e) => {
    console.error(e);
    if (!res.headersSent) res.writeHead(500).end(String(e));
}));
server.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
