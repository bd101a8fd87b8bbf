// tests/gateway/gateway_e2e.mjs — mcpd's client gateway (/gateway) end to end, driven by
// @mcp-ts/sdk's own browser client (SSEClient, pinned in tests/node) and by raw HTTP where the
// wire itself is the subject. Everything runs on ephemeral 127.0.0.1 ports and is stopped by PID:
//   - remote MCP servers: `mcpd serve` (its conformance fixtures) and three of the official
//     TypeScript SDK's example servers (ts_example_server.mjs): Streamable HTTP with JSON
//     answers, the deprecated HTTP+SSE server, and the server that speaks both;
//   - gateways: `mcpd serve` with a gateway token, in turn on SQLite, file and Redis storage
//     (restarted to prove sessions are restored), and two instances on one Redis (the stream on
//     one, the RPC on the other).
// Usage: node gateway_e2e.mjs <mcpd binary> <node_tools dir>
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [mcpdBin, toolsDir] = process.argv.slice(2);
if (!mcpdBin || !toolsDir) {
    console.error('usage: gateway_e2e.mjs <mcpd binary> <node_tools dir>');
    process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const { SSEClient } = await import(pathToFileURL(path.join(toolsDir, 'node_modules/@mcp-ts/sdk/dist/client/index.mjs')).href);

const TOKEN = 'e2e-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
// Per-identity tokens (what browsers carry): v1.<expiry>.<hex HMAC-SHA256(secret, identity.expiry)>.
const SECRET = 'e2e-secret-' + randomBytes(16).toString('hex');
function identityToken(identity, expiry = Math.floor(Date.now() / 1000) + 3600, secret = SECRET) {
    return `v1.${expiry}.` + createHmac('sha256', secret).update(`${identity}.${expiry}`).digest('hex');
}
const work = mkdtempSync(path.join(os.tmpdir(), 'mcpd-gateway-e2e-'));
const children = [];
const outputs = []; // {name, output()} of every process started, for a crash report
let failures = 0;
let checks = 0;

// Polls `cond` until it holds or `ms` passed (bounded; for log lines and counters).
async function waitUntil(cond, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (cond()) return true;
        await new Promise((r) => setTimeout(r, 50));
    }
    return cond();
}

function check(cond, what, detail = '') {
    checks++;
    if (cond) {
        console.log(`ok - ${what}`);
    } else {
        failures++;
        console.log(`FAIL - ${what}${detail ? ': ' + detail : ''}`);
    }
}

async function eventually(pred, what, limitMs = 15000) {
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline) {
        if (await pred()) return true;
        await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out waiting for ${what}`);
}

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

// Starts a child, waits for `pattern` in its output (stdout + stderr); returns {child, match, output()}.
async function startProcess(name, cmd, args, { env = {}, cwd = work, pattern }) {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    outputs.push({ name, output: () => out });
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    let match = null;
    await eventually(() => {
        if (child.exitCode !== null) throw new Error(`${name} exited at start:\n${out}`);
        match = out.match(pattern);
        return match !== null;
    }, `${name} to start`);
    return { child, match, output: () => out, name };
}

async function stopProcess(p) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    const exited = new Promise((r) => p.child.once('exit', r));
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 10000);
    const code = await exited;
    clearTimeout(timer);
    // A sanitizer build (the asan preset) reports memory errors on stderr.
    if (/Sanitizer|runtime error:/.test(p.output())) check(false, `${p.name}: no sanitizer report`, p.output().slice(-4000));
    return code;
}

async function startMcpd(name, args, env) {
    const p = await startProcess(name, mcpdBin, ['serve', '--port', '0', '--drain-timeout', '2s', ...args], {
        env: { MCP_TS_STORAGE_TYPE: 'memory', MCPD_LOG_FORMAT: 'text', ...env },
        pattern: /serving MCP on (http:\/\/127\.0\.0\.1:\d+)\/mcp/,
    });
    p.base = p.match[1];
    p.mcp = p.base + '/mcp';
    p.gateway = p.base + '/gateway';
    return p;
}

async function startGateway(name, env = {}, args = []) {
    // Every remote server here is on 127.0.0.1: the development opt-out is needed.
    return startMcpd(name, args, { MCPD_GATEWAY_TOKEN: TOKEN, MCPD_GATEWAY_SECRET: SECRET,
        MCPD_GATEWAY_ALLOW_PRIVATE_SERVERS: '1', ...env });
}

async function startExample(example) {
    const p = await startProcess(example, path.join(toolsDir, 'node_modules/.bin/node'),
        [path.join(here, 'ts_example_server.mjs'), toolsDir, example],
        { pattern: /listening on (http:\/\/127\.0\.0\.1:\d+)/ });
    p.base = p.match[1];
    return p;
}

// An SSE reader over fetch: every event as {event, data}.
function openStream(url, headers = {}) {
    const controller = new AbortController();
    const stream = { events: [], status: 0, closed: false };
    stream.ready = (async () => {
        const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: controller.signal });
        stream.status = res.status;
        if (!res.ok) return;
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        (async () => {
            try {
                while (true) {
                    const { value, done } = await reader.read();
                    if (done) break;
                    buffer += decoder.decode(value, { stream: true });
                    let at;
                    while ((at = buffer.search(/\r?\n\r?\n/)) >= 0) {
                        const block = buffer.slice(0, at);
                        buffer = buffer.slice(at).replace(/^\r?\n\r?\n/, '');
                        let event = 'message';
                        const data = [];
                        for (const line of block.split(/\r?\n/)) {
                            if (line.startsWith('event:')) event = line.slice(6).trim();
                            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
                        }
                        if (data.length) {
                            let parsed = data.join('\n');
                            try { parsed = JSON.parse(parsed); } catch { /* raw */ }
                            stream.events.push({ event, data: parsed });
                        }
                    }
                }
            } catch { /* aborted */ }
            stream.closed = true;
        })();
    })();
    stream.close = () => controller.abort();
    stream.waitFor = (pred, what) => eventually(() => stream.events.some(pred), what);
    return stream;
}

async function post(url, body, headers = {}) {
    const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, json, text, headers: res.headers };
}

const auth = { Authorization: `Bearer ${TOKEN}` };

function client(gw, identity, sink = {}) {
    const events = [];
    const c = new SSEClient({
        url: gw.gateway,
        identity,
        // A per-identity token, as a browser gets from the app's backend.
        authToken: identityToken(identity),
        onConnectionEvent: (e) => { events.push(e); sink.onConnectionEvent?.(e); },
        onObservabilityEvent: () => {},
    });
    c.connect();
    c.events = events;
    return c;
}

function textOf(result) {
    return result?.content?.[0]?.text;
}

// OAuth through the gateway, on one storage backend: a remote server behind the TypeScript SDK's
// OAuth demo (requiresAuth, auth_required, finishAuth, forged and reused states refused), a
// restart that restores the session on its stored tokens, then the access token expires with
// no traffic and several concurrent calls refresh it exactly once.
async function oauthThroughGateway(storeName, storeEnv) {
    const lifetime = 4; // seconds: the access tokens expire during the test
    const demo = await startProcess(`oauth-demo-${storeName}`, path.join(toolsDir, 'node_modules/.bin/node'),
        [path.join(here, '../integration/oauth_demo_server.mjs'), toolsDir, '--token-lifetime', String(lifetime)],
        { pattern: /mcp (\S+)\n(?:.*\n)*?ready/ });
    const demoMcp = demo.match[1];
    // The fixture's counters are on the MCP server's port.
    const refreshes = async () => (await (await fetch(new URL('/test/counts', demoMcp))).json()).refresh;
    // No pings: nothing but the calls below may use (and so refresh) the token.
    const env = { ...storeEnv, MCPD_GATEWAY_PING_INTERVAL: '0s' };
    const user = `oauth-user-${storeName}`;
    let gw = await startGateway(`gateway-oauth-${storeName}`, env);
    const tab = openStream(gw.gateway + `?identity=${user}`, auth);
    await tab.ready;
    let c = client(gw, user);
    const conn = await c.connectToServer({ serverName: 'protected', serverUrl: demoMcp, callbackUrl: 'http://127.0.0.1:9/oauth/callback' });
    check(conn.success === true && conn.requiresAuth === true && /^http/.test(conn.authUrl ?? ''),
        `OAuth (${storeName}): connect answers requiresAuth with the authorization URL`, JSON.stringify(conn));
    const asked = c.events.filter((e) => e.type === 'auth_required' && e.sessionId === conn.sessionId);
    check(asked.length === 1 && asked[0].authUrl === conn.authUrl, `OAuth (${storeName}): auth_required announced once, with the same URL`);
    await tab.waitFor((e) => e.event === 'connection' && e.data.type === 'auth_required', 'auth_required on the GET stream');
    const pending = await c.getSessions();
    check(pending.sessions.length === 1 && pending.sessions[0].active === false, `OAuth (${storeName}): the pending session is listed as not active`);
    // A second connect to the same server resumes the pending one.
    const again = await c.connectToServer({ serverName: 'protected', serverUrl: demoMcp, callbackUrl: 'http://127.0.0.1:9/oauth/callback' });
    check(again.sessionId === conn.sessionId && again.requiresAuth === true, `OAuth (${storeName}): connecting again resumes the pending session`,
        JSON.stringify(again));
    // The user authorizes: the demo logs them in at once and redirects to the callback.
    const redirect = await fetch(again.authUrl, { redirect: 'manual' });
    const location = new URL(redirect.headers.get('location'));
    const code = location.searchParams.get('code');
    const state = location.searchParams.get('state');
    check(redirect.status === 302 && code && state && state.startsWith(conn.sessionId + '.'),
        `OAuth (${storeName}): the authorization server redirects with code and a state naming the session`, location.href);
    let wrong = null;
    try { await c.finishAuth(conn.sessionId + '.forged', code); } catch (e) { wrong = e; }
    check(wrong !== null, `OAuth (${storeName}): a forged state is refused`, wrong?.message);
    // SSEClient.finishAuth(sessionId, code): the callback's state goes in as sessionId.
    const done = await c.finishAuth(state, code);
    check(done.success === true && done.toolCount > 0, `OAuth (${storeName}): finishAuth(state, code) connects`, JSON.stringify(done));
    const echoed = await c.callTool(conn.sessionId, 'greet', { name: 'authorized' });
    check(JSON.stringify(echoed).includes('authorized'), `OAuth (${storeName}): a tool call with the token`, JSON.stringify(echoed));
    let reused = null;
    try { await c.finishAuth(state, code); } catch (e) { reused = e; }
    check(reused !== null, `OAuth (${storeName}): a state is single use`, reused?.message);
    // Restart: the stored tokens carry the session on, no new login.
    tab.close();
    await stopProcess(gw);
    gw = await startGateway(`gateway-oauth-restarted-${storeName}`, env);
    c = client(gw, user);
    const restored = await c.restoreSession(conn.sessionId);
    check(restored.success === true && !c.events.some((e) => e.type === 'auth_required'),
        `OAuth (${storeName}): after a restart the session is restored with its stored tokens`, JSON.stringify(restored));
    // The access token expires while nobody uses it; then several calls at once: exactly one
    // refresh (the others wait for it and use the new token).
    const before = await refreshes();
    await new Promise((r) => setTimeout(r, (lifetime + 1) * 1000));
    const calls = await Promise.all([1, 2, 3, 4].map((i) =>
        c.callTool(conn.sessionId, 'greet', { name: `after-expiry-${i}` }).catch((e) => ({ error: e.message }))));
    check(calls.every((r, i) => JSON.stringify(r).includes(`after-expiry-${i + 1}`)),
        `OAuth (${storeName}): after the token expired, concurrent calls all succeed`, JSON.stringify(calls).slice(0, 400));
    const after = await refreshes();
    check(after - before === 1, `OAuth (${storeName}): the expired token was refreshed exactly once`, `${before} -> ${after}`);
    await stopProcess(gw);
    await stopProcess(demo);
}

async function main() {
    // --- remote MCP servers ---------------------------------------------------------------
    const remote = await startMcpd('remote-mcpd', ['--conformance', '--no-gateway'], {});
    const jsonServer = await startExample('jsonResponseStreamableHttp');
    const sseServer = await startExample('simpleSseServer');
    const bothServer = await startExample('sseAndStreamableHttpCompatibleServer');

    // --- settings -----------------------------------------------------------------------------
    {
        const printed = spawnSync(mcpdBin, ['config', 'print'], { env: { ...process.env, MCPD_GATEWAY_TOKEN: TOKEN,
            MCPD_GATEWAY_SECRET: SECRET, MCPD_GATEWAY_ALLOWED_SERVERS: 'mcp.example.com', MCPD_GATEWAY_HEARTBEAT: '5s' }, encoding: 'utf8' });
        const text = printed.stdout + printed.stderr;
        check(/^gateway-token = \*\*\*/m.test(text) && !text.includes(TOKEN), 'config print masks the gateway token');
        check(/^gateway-secret = \*\*\*/m.test(text) && !text.includes(SECRET), 'config print masks the gateway secret');
        check(/^gateway-allowed-servers = mcp\.example\.com/m.test(text) && /^gateway-allow-private-servers = false/m.test(text),
            'config print shows the server policy settings', text.split('\n').filter((l) => l.startsWith('gateway-allow')).join('; '));
        // `mcpd gateway token` mints what the documented formula computes.
        const minted = spawnSync(mcpdBin, ['gateway', 'token', '--identity', 'alice', '--ttl', '2h'],
            { env: { ...process.env, MCPD_GATEWAY_SECRET: SECRET }, encoding: 'utf8' });
        const m = /^v1\.(\d+)\.([0-9a-f]{64})$/.exec(minted.stdout.trim());
        const now = Math.floor(Date.now() / 1000);
        check(minted.status === 0 && m && Number(m[1]) > now + 7000 && Number(m[1]) <= now + 7300 &&
            minted.stdout.trim() === identityToken('alice', Number(m[1])), 'mcpd gateway token: v1.<expiry>.<HMAC> for the identity and TTL',
            minted.stdout + minted.stderr);
        const noSecret = spawnSync(mcpdBin, ['gateway', 'token', '--identity', 'alice'],
            { env: { ...process.env, MCPD_GATEWAY_SECRET: '' }, encoding: 'utf8' });
        check(noSecret.status === 2 && /gateway-secret is not set/.test(noSecret.stderr), 'mcpd gateway token without a secret: a clear error');
        check(/^gateway-heartbeat = 5s\s+# env MCPD_GATEWAY_HEARTBEAT/m.test(text), 'config print shows the gateway settings and their source');
    }

    // --- access -------------------------------------------------------------------------------
    {
        const gw = await startGateway('gateway-access');
        const rpc = { id: 'a1', method: 'getSessions' };
        check((await post(gw.gateway + '?identity=alice', rpc)).status === 401, 'no token: 401');
        check((await post(gw.gateway + '?identity=alice', rpc, { Authorization: 'Bearer wrong' })).status === 401,
            'a wrong token: 401');
        check((await post(gw.gateway + `?identity=alice&token=${TOKEN}`, rpc)).status === 401,
            'a token in the URL only: 401 (URLs are logged)');
        const ok = await post(gw.gateway + '?identity=alice', rpc, auth);
        check(ok.status === 200 && Array.isArray(ok.json?.result?.sessions), 'the token as Bearer: 200 and {id, result}',
            ok.text);
        const alt = await post(gw.gateway + '?identity=alice', rpc, { 'X-Gateway-Token': TOKEN });
        check(alt.status === 200, 'the token in X-Gateway-Token: 200');
        const noIdentity = await post(gw.gateway, rpc, auth);
        check(noIdentity.status === 400 && noIdentity.json?.error?.code === 'MISSING_IDENTITY', 'no identity: 400 MISSING_IDENTITY');
        const garbage = await post(gw.gateway + '?identity=alice', '{not json', auth);
        check(garbage.status === 400 && garbage.json?.error?.code === 'INVALID_REQUEST', 'a body that is not JSON: 400');
        const get = openStream(gw.gateway + '?identity=alice');
        await get.ready;
        check(get.status === 401, 'GET without a token: 401');
        const evil = await post(gw.gateway + '?identity=alice', rpc, { ...auth, Origin: 'http://evil.example' });
        check(evil.status === 403, 'a foreign Origin: 403');
        // Per-identity tokens: one identity, until expiry, under this gateway's secret.
        const mine = { Authorization: `Bearer ${identityToken('alice')}` };
        check((await post(gw.gateway + '?identity=alice', rpc, mine)).status === 200, "alice's identity token acts as alice");
        check((await post(gw.gateway + '?identity=bob', rpc, mine)).status === 401, "alice's identity token cannot act as bob");
        check((await post(gw.gateway + '?identity=alice', rpc, { 'X-Gateway-Token': identityToken('alice') })).status === 200,
            'an identity token in X-Gateway-Token');
        const expired = identityToken('alice', Math.floor(Date.now() / 1000) - 1);
        check((await post(gw.gateway + '?identity=alice', rpc, { Authorization: `Bearer ${expired}` })).status === 401,
            'an expired identity token: 401');
        const forged = identityToken('alice', Math.floor(Date.now() / 1000) + 3600, 'another-secret');
        check((await post(gw.gateway + '?identity=alice', rpc, { Authorization: `Bearer ${forged}` })).status === 401,
            'an identity token under another secret: 401');
        // The SSRF default: a gateway without the development opt-out does not reach 127.0.0.1.
        const strict = await startMcpd('gateway-strict', [], { MCPD_GATEWAY_TOKEN: TOKEN });
        const refused = await post(strict.gateway + '?identity=alice', { id: 's1', method: 'connect',
            params: { serverUrl: remote.mcp, serverName: 'loopback' } }, auth);
        check(refused.json?.error?.code === 'EXECUTION_ERROR' && /loopback/.test(refused.json.error.message) &&
            /gateway-allow-private-servers/.test(refused.json.error.message),
            'by default a server on a loopback address is refused, saying why', refused.text);
        await stopProcess(strict);
        // gateway-max-result-size: a bigger answer is an EXECUTION_ERROR naming the limit.
        const small = await startGateway('gateway-small-results', { MCPD_GATEWAY_MAX_RESULT_SIZE: '64KiB' });
        const sc = await post(small.gateway + '?identity=alice', { id: 'm1', method: 'connect',
            params: { serverUrl: remote.mcp, serverName: 'small' } }, auth);
        const tooBig = await post(small.gateway + '?identity=alice', { id: 'm2', method: 'callTool',
            params: { sessionId: sc.json?.result?.sessionId, toolName: 'echo', toolArgs: { text: 'y'.repeat(100 * 1024) } } }, auth);
        check(tooBig.json?.id === 'm2' && tooBig.json?.error?.code === 'EXECUTION_ERROR' && /gateway-max-result-size/.test(tooBig.json.error.message),
            'a result over gateway-max-result-size: EXECUTION_ERROR naming the limit', tooBig.text.slice(0, 300));
        await stopProcess(small);
        await stopProcess(gw);
        check(!gw.output().includes(TOKEN), 'the token never appears in the log');

        const dev = await startMcpd('gateway-dev', [], { MCPD_GATEWAY_DEV: '1' });
        const devOk = await post(dev.gateway + '?identity=alice', rpc);
        check(devOk.status === 200, 'gateway-dev on a loopback bind: no token needed');
        const proxied = await post(dev.gateway + '?identity=alice', rpc, { 'X-Forwarded-For': '203.0.113.9' });
        check(proxied.status === 401, 'gateway-dev: a request through a proxy (X-Forwarded-For) still needs a token');
        const forwarded = await post(dev.gateway + '?identity=alice', rpc, { Forwarded: 'for=203.0.113.9' });
        check(forwarded.status === 401, 'gateway-dev: a request with Forwarded still needs a token');
        await stopProcess(dev);
        // Bound to every interface, the development setting does not open the gateway.
        const wide = await startProcess('gateway-dev-wide', mcpdBin,
            ['serve', '--host', '0.0.0.0', '--port', '0', '--drain-timeout', '2s'],
            { env: { MCP_TS_STORAGE_TYPE: 'memory', MCPD_LOG_FORMAT: 'text', MCPD_GATEWAY_DEV: '1', MCPD_GATEWAY_SECRET: SECRET },
              pattern: /serving MCP on http:\/\/[^:]+:(\d+)\/mcp/ });
        const wideUrl = `http://127.0.0.1:${wide.match[1]}/gateway?identity=alice`;
        const wideRes = await post(wideUrl, rpc);
        check(wideRes.status === 401, 'gateway-dev on a non-loopback bind: still 401 without a token', String(wideRes.status));
        // Not loopback, no allowed-origin: another origin is refused (no CORS), the page's own is served.
        const aliceAuth = { Authorization: `Bearer ${identityToken('alice')}` };
        const foreign = await post(wideUrl, rpc, { ...aliceAuth, Origin: 'http://evil.example' });
        check(foreign.status === 403 && !foreign.headers.get('access-control-allow-origin'),
            'a non-loopback bind without allowed-origin: a foreign Origin gets 403 and no CORS', String(foreign.status));
        const sameOrigin = await post(wideUrl, rpc, { ...aliceAuth, Origin: `http://127.0.0.1:${wide.match[1]}` });
        check(sameOrigin.status === 200, 'the gateway\'s own origin is served', String(sameOrigin.status));
        await stopProcess(wide);
    }

    // --- SSEClient against every kind of server, events on GET streams (two tabs) -------------
    {
        const gw = await startGateway('gateway-main', { MCPD_GATEWAY_HEARTBEAT: '200ms' });
        const tab1 = openStream(gw.gateway + '?identity=alice', auth);
        const tab2 = openStream(gw.gateway + '?identity=alice', auth);
        const other = openStream(gw.gateway + '?identity=bob', auth);
        await Promise.all([tab1.ready, tab2.ready, other.ready]);
        check(tab1.status === 200 && tab2.status === 200, 'two GET streams of one identity');
        await tab1.waitFor((e) => e.event === 'connected' && typeof e.data.timestamp === 'number', 'connected');
        await tab1.waitFor((e) => e.event === 'observability' && e.data.message === 'heartbeat', 'a heartbeat');
        check(true, 'the connected event and heartbeats arrive');

        const c = client(gw, 'alice');
        const { sessions: none } = await c.getSessions();
        check(Array.isArray(none) && none.length === 0, 'getSessions: none yet');

        const conn = await c.connectToServer({
            serverId: 'conf', serverName: 'conformance', serverUrl: remote.mcp, callbackUrl: 'http://127.0.0.1/cb',
        });
        check(conn.success === true && typeof conn.sessionId === 'string', 'connect: {sessionId, success}');
        const sid = conn.sessionId;
        const states = c.events.filter((e) => e.type === 'state_changed' && e.sessionId === sid).map((e) => e.state);
        check(states.includes('CONNECTING') && states.at(-1) === 'READY', 'the POST stream carried the states up to READY',
            states.join(','));
        check(c.events.some((e) => e.type === 'tools_discovered' && e.sessionId === sid && e.toolCount > 0),
            'tools_discovered with the tools');

        const tools = await c.listTools(sid);
        check(tools.tools.some((t) => t.name === 'echo'), 'listTools');
        const echoed = await c.callTool(sid, 'echo', { text: 'through the gateway' });
        check(textOf(echoed) === 'through the gateway' && echoed._meta?.sessionId === sid, 'callTool, with _meta.sessionId');
        const before = c.events.length;
        await c.callTool(sid, 'test_tool_with_progress', {});
        const progress = c.events.slice(before).filter((e) => e.type === 'progress' && e.sessionId === sid && /\d+(\.\d+)?\/\d+/.test(e.message));
        check(progress.length >= 2, "a tool's progress notifications arrive as progress events", JSON.stringify(c.events.slice(before)));
        // A result over 1 MiB (the GET streams' buffer) reaches the caller whole, and does not
        // overflow, so close, the identity's GET streams (it is not copied to them).
        // (The remote answers with JSON bodies: mcpd's own /mcp SSE streams are limited to 1 MiB.)
        const jsonRemote = await startMcpd('remote-json', ['--conformance', '--no-gateway', '--json-response'], {});
        const bigConn = await c.connectToServer({ serverName: 'json-remote', serverUrl: jsonRemote.mcp, callbackUrl: 'http://127.0.0.1/cb' });
        const big = 'x'.repeat(1536 * 1024);
        const bigEcho = await c.callTool(bigConn.sessionId, 'echo', { text: big });
        check(textOf(bigEcho) === big, 'a 1.5 MiB tool result arrives whole on the POST stream');
        const tabsBefore = tab1.events.length;
        await c.callTool(sid, 'echo', { text: 'after the big one' });
        await c.disconnectFromServer(bigConn.sessionId);
        await stopProcess(jsonRemote);
        await tab1.waitFor((e) => e.event === 'rpc-response' && e.data.result?.content?.[0]?.text === 'after the big one', 'tab 1 after the big result');
        check(!tab1.closed && !tab2.closed && !tab1.events.slice(tabsBefore).some((e) => JSON.stringify(e.data).length > 1024 * 1024),
            'the GET streams stay open and did not get the oversized answer');
        const prompts = await c.listPrompts(sid);
        check(prompts.prompts.length > 0, 'listPrompts');
        const prompt = await c.getPrompt(sid, 'test_prompt_with_arguments', { arg1: 'x', arg2: 'y' });
        check(Array.isArray(prompt.messages) && prompt.messages.length > 0, 'getPrompt');
        const resources = await c.listResources(sid);
        check(resources.resources.some((r) => r.uri === 'test://static-text'), 'listResources');
        const read = await c.readResource(sid, 'test://static-text');
        check(Array.isArray(read.contents) && read.contents.length > 0, 'readResource');

        let duplicate = null;
        try { await c.connectToServer({ serverId: 'conf', serverName: 'again', serverUrl: remote.mcp, callbackUrl: 'http://127.0.0.1/cb' }); }
        catch (e) { duplicate = e; }
        check(duplicate && /already exists/.test(duplicate.message), 'a second connect to the same server is refused',
            duplicate?.message);
        let dead = null;
        const deadPort = await freePort();
        try { await c.connectToServer({ serverName: 'dead', serverUrl: `http://127.0.0.1:${deadPort}/mcp`, callbackUrl: 'http://127.0.0.1/cb' }); }
        catch (e) { dead = e; }
        check(dead && /refused/i.test(dead.message), 'a server that is not there: a clear error', dead?.message);
        const afterDead = await c.getSessions();
        check(afterDead.sessions.length === 1, 'the failed connect left no record');

        // The official SDK's examples: Streamable HTTP (JSON answers), HTTP+SSE, and both.
        const j = await c.connectToServer({ serverName: 'json', serverUrl: jsonServer.base + '/mcp', callbackUrl: 'http://127.0.0.1/cb' });
        const greet = await c.callTool(j.sessionId, 'greet', { name: 'gateway' });
        check(/gateway/.test(textOf(greet) ?? ''), 'the SDK example jsonResponseStreamableHttp: greet', JSON.stringify(greet));
        const s = await c.connectToServer({ serverName: 'sse', serverUrl: sseServer.base + '/mcp', callbackUrl: 'http://127.0.0.1/cb' });
        const sseTools = await c.listTools(s.sessionId);
        check(sseTools.tools.some((t) => t.name === 'start-notification-stream'), 'the SDK example simpleSseServer (HTTP+SSE): listTools');
        const b = await c.connectToServer({ serverName: 'both', serverUrl: bothServer.base + '/mcp', callbackUrl: 'http://127.0.0.1/cb' });
        check(b.success, 'the SDK example sseAndStreamableHttpCompatibleServer: connect');
        const bSse = await c.connectToServer({ serverName: 'both-sse', serverUrl: bothServer.base + '/sse', callbackUrl: 'http://127.0.0.1/cb', transportType: 'sse' });
        const bSseTools = await c.listTools(bSse.sessionId);
        check(bSseTools.tools.length > 0, 'the same server over its HTTP+SSE endpoint, transportType sse');
        const all = await c.getSessions();
        const byName = Object.fromEntries(all.sessions.map((x) => [x.serverName, x]));
        check(byName.json?.transport === 'streamable_http' && byName.sse?.transport === 'sse' && byName['both-sse']?.transport === 'sse',
            'getSessions: the transport that worked is stored', JSON.stringify(all.sessions));

        const metrics = await (await fetch(gw.base + '/metrics')).text();
        const gauge = (name) => Number((metrics.match(new RegExp(`^${name} (\\S+)$`, 'm')) ?? [])[1]);
        check(gauge('mcpd_gateway_connections') >= 4 && gauge('mcpd_gateway_streams') === 3,
            '/metrics counts the gateway connections and streams', metrics.split('\n').filter((l) => l.startsWith('mcpd_gateway')).join('; '));

        // Both tabs saw the events and every RPC response of alice's; bob saw none of them.
        await tab1.waitFor((e) => e.event === 'rpc-response' && e.data.result?._meta?.sessionId === sid, 'tab 1 rpc-response');
        await tab2.waitFor((e) => e.event === 'connection' && e.data.type === 'tools_discovered' && e.data.sessionId === sid, 'tab 2 tools_discovered');
        check(true, 'both tabs got the connection events and the RPC responses');
        check(!other.events.some((e) => e.event === 'connection' || e.event === 'rpc-response'), "another identity's stream got nothing of alice's");

        // A server whose tool list changes: the new list reaches the tabs as tools_discovered.
        const changing = await startProcess('list-changed', path.join(toolsDir, 'node_modules/.bin/node'),
            [path.join(here, 'list_changed_server.mjs'), toolsDir], { pattern: /listening on (http:\/\/127\.0\.0\.1:\d+)/ });
        const lc = await c.connectToServer({ serverName: 'changing', serverUrl: changing.match[1] + '/mcp', callbackUrl: 'http://127.0.0.1/cb' });
        const unlocked = await c.callTool(lc.sessionId, 'unlock', {});
        check(textOf(unlocked) === 'unlocked', 'a tool that changes the tool list');
        await tab1.waitFor((e) => e.event === 'connection' && e.data.type === 'tools_discovered' && e.data.sessionId === lc.sessionId &&
            e.data.tools.some((t) => t.name === 'secret'), 'the new tool list on the stream');
        check(true, 'notifications/tools/list_changed: the tabs get the new list (tools_discovered)');
        const secret = await c.callTool(lc.sessionId, 'secret', {});
        check(textOf(secret) === 'found', 'and the new tool can be called');
        await c.disconnectFromServer(lc.sessionId);
        await stopProcess(changing);

        // Disconnect: announced to the tabs, gone from the store.
        await c.disconnectFromServer(j.sessionId);
        await tab2.waitFor((e) => e.event === 'connection' && e.data.type === 'disconnected' && e.data.sessionId === j.sessionId, 'disconnected');
        const left = await c.getSessions();
        check(!left.sessions.some((x) => x.sessionId === j.sessionId), 'disconnect removes the session');

        // A server that goes away: the session fails, calls answer with an error, no hang.
        const doomed = await startMcpd('doomed', ['--no-gateway'], {});
        const d = await c.connectToServer({ serverName: 'doomed', serverUrl: doomed.mcp, callbackUrl: 'http://127.0.0.1/cb' });
        await stopProcess(doomed);
        let callError = null;
        try { await c.callTool(d.sessionId, 'echo', { text: 'x' }); } catch (e) { callError = e; }
        check(callError !== null, 'a call to a server that went away fails with an error', callError?.message);

        tab1.close(); tab2.close(); other.close();
        await stopProcess(gw);
    }


    // --- restart: sessions restored from sqlite, file and redis ------------------------------
    const redisPort = await freePort();
    const redis = await startProcess('redis', 'redis-server',
        ['--bind', '127.0.0.1', '--port', String(redisPort), '--save', '', '--appendonly', 'no', '--dir', work],
        { pattern: /Ready to accept/ });
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    const stores = {
        sqlite: { MCP_TS_STORAGE_TYPE: 'sqlite', MCP_TS_STORAGE_SQLITE_PATH: path.join(work, 'gw.db') },
        file: { MCP_TS_STORAGE_TYPE: 'file', MCP_TS_STORAGE_FILE: path.join(work, 'gw.json') },
        redis: { MCP_TS_STORAGE_TYPE: 'redis', REDIS_URL: redisUrl, MCP_TS_STORAGE_REQUIRED: '1' },
    };
    // --- OAuth through the gateway on each storage backend -----------------------------------
    await oauthThroughGateway('sqlite', { MCP_TS_STORAGE_TYPE: 'sqlite', MCP_TS_STORAGE_SQLITE_PATH: path.join(work, 'oauth.db') });
    await oauthThroughGateway('file', { MCP_TS_STORAGE_TYPE: 'file', MCP_TS_STORAGE_FILE: path.join(work, 'oauth.json') });
    await oauthThroughGateway('redis', { MCP_TS_STORAGE_TYPE: 'redis', REDIS_URL: redisUrl, MCP_TS_STORAGE_REQUIRED: '1' });
    for (const [name, env] of Object.entries(stores)) {
        const identity = `restart-${name}`;
        let gw = await startGateway(`gateway-${name}`, env);
        let c = client(gw, identity);
        const conn = await c.connectToServer({ serverName: 'conformance', serverUrl: remote.mcp, callbackUrl: 'http://127.0.0.1/cb' });
        const sse = await c.connectToServer({ serverName: 'sse', serverUrl: sseServer.base + '/mcp', callbackUrl: 'http://127.0.0.1/cb' });
        await stopProcess(gw);
        gw = await startGateway(`gateway-${name}-restarted`, env);
        c = client(gw, identity);
        const { sessions } = await c.getSessions();
        check(sessions.length === 2 && sessions.every((x) => x.active === true),
            `${name}: both sessions listed after a restart`, JSON.stringify(sessions));
        const restored = await c.restoreSession(conn.sessionId);
        check(restored.success === true && restored.toolCount > 0, `${name}: restoreSession`, JSON.stringify(restored));
        check(c.events.some((e) => e.type === 'state_changed' && e.state === 'VALIDATING'), `${name}: VALIDATING announced`);
        const again = await c.callTool(conn.sessionId, 'echo', { text: `after ${name} restart` });
        check(textOf(again) === `after ${name} restart`, `${name}: callTool after the restart`);
        const sseAgain = await c.listTools(sse.sessionId);
        check(sseAgain.tools.length > 0, `${name}: the HTTP+SSE session comes back on its stored transport`);
        // Another restart, then every session at once (restoreSessions, mcpd's own method).
        await stopProcess(gw);
        gw = await startGateway(`gateway-${name}-restarted-again`, env);
        const all = await post(gw.gateway + `?identity=${identity}`, { id: 'all', method: 'restoreSessions' }, auth);
        const results = all.json?.result?.sessions ?? [];
        check(results.length === 2 && results.every((r) => r.success === true && r.toolCount > 0),
            `${name}: restoreSessions restores both`, all.text);
        await stopProcess(gw);
    }

    // --- two instances on one Redis: the stream on A, the RPC on B ----------------------------
    {
        const env = stores.redis;
        const a = await startGateway('gateway-a', env);
        const bInst = await startGateway('gateway-b', env);
        const stream = openStream(a.gateway + '?identity=fleet', auth);
        await stream.ready;
        await stream.waitFor((e) => e.event === 'connected', 'A connected');
        // Subscribed before the first event: wait until A says fan-out is on.
        check(/fan out on Redis channel/.test(a.output()), 'A fans out on Redis');
        const conn = await post(bInst.gateway + '?identity=fleet', { id: 'fleet-1', method: 'connect',
            params: { serverName: 'conformance', serverUrl: remote.mcp, callbackUrl: 'http://127.0.0.1/cb' } }, auth);
        check(conn.json?.result?.success === true, 'connect through B', conn.text);
        await stream.waitFor((e) => e.event === 'connection' && e.data.type === 'tools_discovered', "B's events on A's stream");
        await stream.waitFor((e) => e.event === 'rpc-response' && e.data.id === 'fleet-1', "B's RPC response on A's stream");
        check(true, "the connect served by B reached A's stream (events and response)");
        const sid = conn.json.result.sessionId;
        const call = await post(bInst.gateway + '?identity=fleet', { id: 'fleet-2', method: 'callTool',
            params: { sessionId: sid, toolName: 'echo', toolArgs: { text: 'fleet' } } }, auth);
        check(textOf(call.json?.result) === 'fleet', 'callTool through B');
        await stream.waitFor((e) => e.event === 'rpc-response' && e.data.id === 'fleet-2', 'fleet-2 on A');
        // A serves the same session from the shared record.
        const viaA = client(a, 'fleet');
        const { sessions } = await viaA.getSessions();
        check(sessions.some((x) => x.sessionId === sid), 'A lists the session B made');
        const callA = await viaA.callTool(sid, 'echo', { text: 'on A' });
        check(textOf(callA) === 'on A', 'A calls a tool on the session B made');
        // Anyone else who can PUBLISH on the channel cannot inject events or disconnects: the
        // messages are sealed with the fleet's key, an unsealed one is dropped (and logged).
        const forged = JSON.stringify({ origin: 'intruder', identity: 'fleet', channel: 'connection',
            data: { type: 'disconnected', sessionId: sid, reason: 'forged', timestamp: Date.now() } });
        const pub = spawnSync('redis-cli', ['-p', String(redisPort), 'PUBLISH', 'mcp:gateway:events', forged], { encoding: 'utf8' });
        check(pub.status === 0 && Number(pub.stdout.trim()) >= 2, 'a forged fan-out message was published', pub.stdout + pub.stderr);
        const dropped = await waitUntil(() => /dropped a fan-out message that is not sealed/.test(a.output()), 5000);
        check(dropped, 'A drops an unsealed fan-out message and says so once');
        check(!stream.events.some((e) => e.event === 'connection' && e.data.reason === 'forged'), "the forged event never reached A's stream");
        const stillA = await viaA.callTool(sid, 'echo', { text: 'still on A' });
        check(textOf(stillA) === 'still on A', 'the forged disconnect did not close the session on A');
        // Disconnected through B: A drops its connection too (it heard B's `disconnected`).
        const gone = await post(bInst.gateway + '?identity=fleet', { id: 'fleet-3', method: 'disconnect', params: { sessionId: sid } }, auth);
        check(gone.json?.result?.success === true, 'disconnect through B');
        await stream.waitFor((e) => e.event === 'connection' && e.data.type === 'disconnected' && e.data.sessionId === sid, "B's disconnected on A's stream");
        const stale = await post(a.gateway + '?identity=fleet', { id: 'fleet-4', method: 'callTool',
            params: { sessionId: sid, toolName: 'echo', toolArgs: { text: 'stale' } } }, auth);
        check(stale.json?.error?.message === 'Session not found', 'A no longer serves the session B disconnected', stale.text);
        stream.close();
        await stopProcess(a);
        await stopProcess(bInst);
    }

    await stopProcess(redis);
    for (const p of [remote, jsonServer, sseServer, bothServer]) await stopProcess(p);
}

let crashed = null;
try {
    await main();
} catch (e) {
    crashed = e;
}
for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
rmSync(work, { recursive: true, force: true });
if (crashed) {
    console.log(`FAIL - ${crashed.stack ?? crashed}`);
    // What the servers said: the end of each one's output.
    for (const o of outputs) console.log(`--- ${o.name}:\n${o.output().slice(-3000)}`);
    process.exit(1);
}
console.log(`${checks - failures}/${checks} checks passed`);
process.exit(failures === 0 ? 0 : 1);
