// tests/integration/everything_server.mjs — @modelcontextprotocol/server-everything (the MCP
// project's reference "everything" server, pinned in tests/node) for mcpd's MCP client to prove
// itself against a server no one here wrote. mcp_client_everything_test.cpp starts it through
// the ts_mcp_server fixture.
//
// Usage: node everything_server.mjs <node_tools dir> <streamableHttp|sse>
// The server listens on $PORT on every interface; here every HTTP server it opens listens on an
// ephemeral port of 127.0.0.1 instead, and the URL is printed as "listening on <url>" (what the
// fixture waits for). Endpoints: /mcp (Streamable HTTP), or GET /sse + POST /message (HTTP+SSE).
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir, transport] = process.argv.slice(2);
if (!toolsDir || !['streamableHttp', 'sse'].includes(transport)) {
    console.error('usage: everything_server.mjs <node_tools dir> <streamableHttp|sse>');
    process.exit(2);
}

const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
    this.once('listening', () => {
        console.log(`listening on http://127.0.0.1:${this.address().port}`);
    });
    const callbacks = args.filter((a) => typeof a === 'function');
    return listen.call(this, 0, '127.0.0.1', ...callbacks);
};

process.argv = [process.argv[0], 'index.js', transport];
const entry = path.join(toolsDir, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
await import(pathToFileURL(entry).href);
