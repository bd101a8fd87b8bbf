// tests/integration/ts_mcp_server.mjs — an MCP server built on the official TypeScript SDK
// (@modelcontextprotocol/sdk, pinned in tests/node), for mcpd's MCP client to prove it works
// with a server no one here wrote. mcp_client_ts_test.cpp starts it (ts_mcp_server.hpp).
//
// Usage: node ts_mcp_server.mjs <node_tools dir> [--json] [--tls <cert> <key>]
//                                [--require-token <token>]
// Listens on 127.0.0.1 (an ephemeral port) and prints "listening on <url>" on stdout.
//   /mcp                 Streamable HTTP (StreamableHTTPServerTransport): stateful, resumable
//                        (the SDK's InMemoryEventStore), SSE answers, or JSON with --json
//   GET /sse, POST /messages   the 2024-11-05 HTTP+SSE transport (SSEServerTransport);
//                        POST /sse answers 404, as a server without Streamable HTTP does
// --require-token: every request needs "Authorization: Bearer <token>" (else 401 with a
// WWW-Authenticate challenge naming the resource metadata), and the tool admin_only needs
// "<token>-admin" (else 403 insufficient_scope): what an OAuth-protected server answers.
// One low-level Server per session with: tools (listed two per page) echo, add (structured
// output), progress (notifications/progress), ask (elicitation), sample (sampling),
// roots (roots/list), slow (waits; counts cancellations), cancellations, tls_server_name (the
// SNI the client sent); a resource, a resource template and a prompt. Progress and requests to
// the client travel on the request's SSE stream, or (--json) on the GET stream.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir, ...flags] = process.argv.slice(2);
if (!toolsDir) {
    console.error('usage: ts_mcp_server.mjs <node_tools dir> [--json] [--tls <cert> <key>]');
    process.exit(2);
}
const json = flags.includes('--json');
const tlsAt = flags.indexOf('--tls');
const tls = tlsAt >= 0 ? { cert: readFileSync(flags[tlsAt + 1]), key: readFileSync(flags[tlsAt + 2]) } : null;
const tokenAt = flags.indexOf('--require-token');
const requiredToken = tokenAt >= 0 ? flags[tokenAt + 1] : null;

const sdkDir = path.join(toolsDir, 'node_modules/@modelcontextprotocol/sdk/dist/esm');
const sdk = async (file) => import(pathToFileURL(path.join(sdkDir, file)).href);
const { Server } = await sdk('server/index.js');
const { StreamableHTTPServerTransport } = await sdk('server/streamableHttp.js');
const { SSEServerTransport } = await sdk('server/sse.js');
const { InMemoryEventStore } = await sdk('examples/shared/inMemoryEventStore.js');
const types = await sdk('types.js');

const tools = [
    { name: 'echo', description: 'Returns its text', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } },
    { name: 'add', description: 'Adds a and b', inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
      outputSchema: { type: 'object', properties: { sum: { type: 'number' } }, required: ['sum'] } },
    { name: 'progress', description: 'Reports progress `steps` times', inputSchema: { type: 'object', properties: { steps: { type: 'number' }, interval_ms: { type: 'number' } } } },
    { name: 'ask', description: 'Asks the user (elicitation)', inputSchema: { type: 'object', properties: { message: { type: 'string' } } } },
    { name: 'sample', description: "Asks the client's model (sampling)", inputSchema: { type: 'object', properties: { prompt: { type: 'string' } } } },
    { name: 'roots', description: "Lists the client's roots", inputSchema: { type: 'object', properties: {} } },
    { name: 'slow', description: 'Waits ms milliseconds unless cancelled', inputSchema: { type: 'object', properties: { ms: { type: 'number' } } } },
    { name: 'cancellations', description: 'How many slow calls were cancelled', inputSchema: { type: 'object', properties: {} } },
    { name: 'tls_server_name', description: 'The TLS server name (SNI) the client sent', inputSchema: { type: 'object', properties: {} } },
    { name: 'admin_only', description: 'Needs the admin scope (with --require-token)', inputSchema: { type: 'object', properties: {} } }
];
const pageSize = 2;
let cancelled = 0;
let lastServerName = '';
const sleep = (ms, signal) => new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(new Error('cancelled')); });
});
const text = (t) => ({ content: [{ type: 'text', text: t }] });
// With JSON answers a POST cannot carry anything before its answer, and the SDK drops what is
// sent "related" to it: then progress and requests to the client go on the GET stream.
const related = (extra) => (json ? {} : { relatedRequestId: extra.requestId });

function makeServer() {
    const server = new Server({ name: 'ts-sdk-test-server', version: '1.0.0' },
        { capabilities: { tools: {}, resources: {}, prompts: {}, logging: {} }, instructions: 'A TypeScript SDK server for tests' });
    server.setRequestHandler(types.ListToolsRequestSchema, async (req) => {
        const start = req.params?.cursor ? Number(req.params.cursor) : 0;
        const page = tools.slice(start, start + pageSize);
        const next = start + pageSize < tools.length ? String(start + pageSize) : undefined;
        return next ? { tools: page, nextCursor: next } : { tools: page };
    });
    server.setRequestHandler(types.CallToolRequestSchema, async (req, extra) => {
        const args = req.params.arguments ?? {};
        switch (req.params.name) {
        case 'echo':
            return text(String(args.text));
        case 'add': {
            const sum = Number(args.a) + Number(args.b);
            return { ...text(String(sum)), structuredContent: { sum } };
        }
        case 'progress': {
            const token = req.params._meta?.progressToken;
            const steps = Number(args.steps ?? 3);
            for (let i = 1; i <= steps; i++) {
                const note = { method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps, message: `step ${i}` } };
                if (token !== undefined)
                    await (json ? server.notification(note) : extra.sendNotification(note));
                await sleep(Number(args.interval_ms ?? 10));
            }
            return text(`${steps} steps`);
        }
        case 'ask': {
            const r = await server.elicitInput({ message: String(args.message), requestedSchema: { type: 'object', properties: { answer: { type: 'string' } } } },
                related(extra));
            return text(`${r.action}:${JSON.stringify(r.content ?? null)}`);
        }
        case 'sample': {
            const r = await server.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: String(args.prompt) } }], maxTokens: 50 },
                related(extra));
            return text(`model said: ${r.content.text}`);
        }
        case 'roots': {
            const r = await server.listRoots(undefined, related(extra));
            return text(r.roots.map((root) => root.uri).join(','));
        }
        case 'slow':
            try {
                await sleep(Number(args.ms ?? 10000), extra.signal);
            } catch {
                cancelled++;
                throw new Error('cancelled');
            }
            return text('slept');
        case 'cancellations':
            return text(String(cancelled));
        case 'tls_server_name':
            return text(lastServerName);
        case 'admin_only':
            return text('admin tool ran');
        default:
            throw new types.McpError(types.ErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
        }
    });
    server.setRequestHandler(types.ListResourcesRequestSchema, async () => ({
        resources: [{ uri: 'ts://hello', name: 'hello', mimeType: 'text/plain' }]
    }));
    server.setRequestHandler(types.ListResourceTemplatesRequestSchema, async () => ({
        resourceTemplates: [{ uriTemplate: 'ts://item/{id}', name: 'item' }]
    }));
    server.setRequestHandler(types.ReadResourceRequestSchema, async (req) => {
        if (req.params.uri === 'ts://hello')
            return { contents: [{ uri: 'ts://hello', mimeType: 'text/plain', text: 'hello from TypeScript' }] };
        throw new types.McpError(-32002, `Resource not found: ${req.params.uri}`);
    });
    server.setRequestHandler(types.ListPromptsRequestSchema, async () => ({
        prompts: [{ name: 'greet', description: 'Greets someone', arguments: [{ name: 'who', required: true }] }]
    }));
    server.setRequestHandler(types.GetPromptRequestSchema, async (req) => ({
        messages: [{ role: 'user', content: { type: 'text', text: `Hello, ${req.params.arguments?.who}!` } }]
    }));
    return server;
}

const streamable = new Map(); // session id → transport
const legacy = new Map();     // session id → SSE transport

async function readBody(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString();
    return body ? JSON.parse(body) : undefined;
}

// With --require-token: false (and the refusal sent) when the request may not go on.
function authorized(req, res, body) {
    if (!requiredToken)
        return true;
    const metadata = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}/.well-known/oauth-protected-resource`;
    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${requiredToken}` && auth !== `Bearer ${requiredToken}-admin`) {
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="mcp", resource_metadata="${metadata}"` })
            .end(JSON.stringify({ error: 'invalid_token' }));
        return false;
    }
    if (body?.method === 'tools/call' && body.params?.name === 'admin_only' && auth !== `Bearer ${requiredToken}-admin`) {
        res.writeHead(403, { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="admin", resource_metadata="${metadata}"` })
            .end(JSON.stringify({ error: 'insufficient_scope' }));
        return false;
    }
    return true;
}

async function handle(req, res) {
    const url = new URL(req.url, 'http://localhost');
    const body = req.method === 'POST' ? await readBody(req) : undefined;
    if (!authorized(req, res, body))
        return;
    if (url.pathname === '/mcp') {
        const sid = req.headers['mcp-session-id'];
        if (sid && streamable.has(sid))
            return streamable.get(sid).handleRequest(req, res, body);
        if (sid) {
            res.writeHead(404).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
            return;
        }
        if (req.method !== 'POST') {
            res.writeHead(405, { Allow: 'POST' }).end();
            return;
        }
        const transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            enableJsonResponse: json,
            eventStore: new InMemoryEventStore(),
            onsessioninitialized: (id) => streamable.set(id, transport)
        });
        transport.onclose = () => { if (transport.sessionId) streamable.delete(transport.sessionId); };
        await makeServer().connect(transport);
        return transport.handleRequest(req, res, body);
    }
    if (url.pathname === '/sse' && req.method === 'GET') {
        const transport = new SSEServerTransport('/messages', res);
        legacy.set(transport.sessionId, transport);
        transport.onclose = () => legacy.delete(transport.sessionId);
        await makeServer().connect(transport);
        return;
    }
    if (url.pathname === '/messages' && req.method === 'POST') {
        const transport = legacy.get(url.searchParams.get('sessionId'));
        if (!transport) {
            res.writeHead(404).end('Session not found');
            return;
        }
        return transport.handlePostMessage(req, res, body);
    }
    res.writeHead(404).end('Not found');
}

const listener = (req, res) => handle(req, res).catch((e) => {
    console.error(e);
    if (!res.headersSent) res.writeHead(500).end(String(e));
});
const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, listener) : http.createServer(listener);
if (tls)
    server.on('secureConnection', (socket) => { lastServerName = socket.servername || ''; });
server.listen(0, '127.0.0.1', () => {
    console.log(`listening on ${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
