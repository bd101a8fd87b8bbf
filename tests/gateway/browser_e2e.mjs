// tests/gateway/browser_e2e.mjs — mcpd's client gateway from a real browser: headless Debian
// chromium (/usr/bin/chromium, driven by playwright-core, pinned in tests/node) runs a page that
// uses @mcp-ts/sdk's browser client (SSEClient, the module the React hook is built on, loaded
// as the package's own ES modules) against `mcpd serve`'s /gateway: connect to a remote MCP
// server, list tools, call a tool; reload the page and restart mcpd (SQLite storage): the page
// lists its sessions and restores them, as useMcp does on load, and calls the tool again.
//
// The page and the package's files are served by the browser context itself (Playwright routes)
// at mcpd's origin, so the page talks to /gateway same-origin, as an app behind one host would.
// Usage: node browser_e2e.mjs <mcpd binary> <node_tools dir> [chromium path]
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [mcpdBin, toolsDir, chromiumPath = '/usr/bin/chromium'] = process.argv.slice(2);
if (!mcpdBin || !toolsDir) {
    console.error('usage: browser_e2e.mjs <mcpd binary> <node_tools dir> [chromium]');
    process.exit(2);
}
if (!existsSync(chromiumPath)) {
    console.log(`FAIL - ${chromiumPath} is missing: scripts/install-deps installs Debian's chromium`);
    process.exit(1);
}
const modules = path.join(toolsDir, 'node_modules');
const { chromium } = await import(pathToFileURL(path.join(modules, 'playwright-core/index.mjs')).href);

// The page carries a per-identity token (gateway-secret), as a web app hands its user one; the
// trusted backend token never reaches the browser.
const SECRET = 'browser-secret-' + randomBytes(16).toString('hex');
const TOKEN_EXPIRY = Math.floor(Date.now() / 1000) + 3600;
const TOKEN = `v1.${TOKEN_EXPIRY}.` +
    createHmac('sha256', SECRET).update(`browser-user.${TOKEN_EXPIRY}`).digest('hex');
const work = mkdtempSync(path.join(os.tmpdir(), 'mcpd-gateway-browser-'));
const children = [];
let failures = 0;
let checks = 0;

function check(cond, what, detail = '') {
    checks++;
    if (cond) console.log(`ok - ${what}`);
    else {
        failures++;
        console.log(`FAIL - ${what}${detail ? ': ' + detail : ''}`);
    }
}

async function eventually(pred, what, limitMs = 20000) {
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline) {
        if (await pred()) return;
        await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out waiting for ${what}`);
}

async function startMcpd(name, args, env) {
    const child = spawn(mcpdBin, ['serve', '--port', '0', '--drain-timeout', '2s', ...args], {
        cwd: work,
        env: { ...process.env, MCP_TS_STORAGE_TYPE: 'memory', MCPD_LOG_FORMAT: 'text', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    let m = null;
    await eventually(() => {
        if (child.exitCode !== null) throw new Error(`${name} exited at start:\n${err}`);
        m = err.match(/serving MCP on (http:\/\/127\.0\.0\.1:\d+)\/mcp/);
        return m !== null;
    }, `${name} to start`);
    return { child, base: m[1], log: () => err };
}

async function stop(p) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    const exited = new Promise((r) => p.child.once('exit', r));
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
    // A sanitizer build (the asan preset) reports memory errors on stderr.
    if (/Sanitizer|runtime error:/.test(p.log())) check(false, 'mcpd: no sanitizer report', p.log().slice(-4000));
}

// The import map for the bare specifiers the client module graph uses, resolved the way a
// bundler would for the browser (package "exports": browser, import, default).
function resolvePackageFile(spec) {
    const parts = spec.split('/');
    const pkg = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
    const sub = '.' + spec.slice(pkg.length);
    const dir = path.join(modules, pkg);
    const pj = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const pick = (x) => (typeof x === 'string' ? x : x && (pick(x.browser) || pick(x.import) || pick(x.default)));
    if (pj.exports) {
        let target = typeof pj.exports === 'string' ? (sub === '.' ? pj.exports : undefined) : pj.exports[sub];
        if (target === undefined && typeof pj.exports === 'object') {
            for (const key of Object.keys(pj.exports)) {
                if (key.endsWith('*') && sub.startsWith(key.slice(0, -1))) {
                    target = JSON.parse(JSON.stringify(pj.exports[key]).replaceAll('*', sub.slice(key.length - 1)));
                }
            }
        }
        const file = pick(target);
        if (file) return path.join(pkg, file);
    }
    return path.join(pkg, sub === '.' ? pj.module || pj.main || 'index.js' : sub);
}
const bareSpecifiers = ['nanoid', '@modelcontextprotocol/ext-apps/app-bridge', '@modelcontextprotocol/sdk/types.js',
    '@modelcontextprotocol/sdk/shared/protocol.js', 'zod/v4', 'zod/v4-mini', 'zod/v3', 'zod-to-json-schema'];
const importMap = { imports: Object.fromEntries(bareSpecifiers.map((s) => [s, '/nm/' + resolvePackageFile(s)])) };

const page = (origin) => `<!doctype html>
<html><head><meta charset="utf-8"><title>gateway test app</title>
<script type="importmap">${JSON.stringify(importMap)}</script></head>
<body><pre id="log"></pre>
<script type="module">
import { SSEClient } from '/nm/@mcp-ts/sdk/dist/client/index.mjs';
const events = [];
const client = new SSEClient({ url: '${origin}/gateway', identity: 'browser-user', authToken: '${TOKEN}',
    onConnectionEvent: (e) => events.push(e) });
client.connect();
window.app = { client, events, restored: null, loadError: null };
// What useMcp does on load: list the sessions, restore every active one.
(async () => {
    try {
        const { sessions } = await client.getSessions();
        const results = [];
        for (const s of sessions) {
            if (s.active === false) continue;
            results.push({ sessionId: s.sessionId, serverName: s.serverName, ...(await client.restoreSession(s.sessionId)) });
        }
        window.app.restored = results;
    } catch (e) {
        window.app.loadError = String(e && e.message || e);
    }
})();
</script></body></html>`;

async function main() {
    const remote = await startMcpd('remote', ['--conformance', '--no-gateway'], {});
    const storage = { MCP_TS_STORAGE_TYPE: 'sqlite', MCP_TS_STORAGE_SQLITE_PATH: path.join(work, 'sessions.db'), MCPD_GATEWAY_SECRET: SECRET, MCPD_GATEWAY_ALLOW_PRIVATE_SERVERS: '1' };
    let gw = await startMcpd('gateway', [], storage);

    const browser = await chromium.launch({ executablePath: chromiumPath, headless: true });
    try {
        const context = await browser.newContext();
        // Served by the context at whatever origin mcpd has now (it changes with the restart).
        await context.route('**/app.html', (route) => {
            const origin = new URL(route.request().url()).origin;
            return route.fulfill({ status: 200, contentType: 'text/html', body: page(origin) });
        });
        await context.route('**/nm/**', (route) => {
            const rel = decodeURIComponent(new URL(route.request().url()).pathname.slice('/nm/'.length));
            const file = path.normalize(path.join(modules, rel));
            if (!file.startsWith(modules + path.sep) || !existsSync(file)) return route.fulfill({ status: 404, body: 'not found' });
            return route.fulfill({ status: 200, contentType: 'text/javascript', body: readFileSync(file) });
        });
        const tab = await context.newPage();
        const pageErrors = [];
        tab.on('pageerror', (e) => pageErrors.push(String(e)));

        await tab.goto(`${gw.base}/app.html`);
        await tab.waitForFunction(() => window.app && (window.app.restored !== null || window.app.loadError !== null), null, { timeout: 20000 });
        check(await tab.evaluate(() => window.app.loadError === null && window.app.restored.length === 0),
            'the page loads @mcp-ts/sdk and lists no sessions yet', pageErrors.join('; '));

        const first = await tab.evaluate(async (url) => {
            const { client } = window.app;
            const { sessionId } = await client.connectToServer({ serverName: 'conformance', serverUrl: url, callbackUrl: location.origin + '/oauth/callback' });
            const tools = await client.listTools(sessionId);
            const called = await client.callTool(sessionId, 'echo', { text: 'from chromium' });
            const states = window.app.events.filter((e) => e.type === 'state_changed').map((e) => e.state);
            return { sessionId, toolNames: tools.tools.map((t) => t.name), text: called.content[0].text, states };
        }, remote.base + '/mcp');
        check(first.toolNames.includes('echo'), 'connect and listTools from the browser');
        check(first.text === 'from chromium', 'callTool from the browser');
        check(first.states.at(-1) === 'READY', 'the browser saw the states up to READY', first.states.join(','));

        // Reload: the page lists and restores its session.
        await tab.reload();
        await tab.waitForFunction(() => window.app && (window.app.restored !== null || window.app.loadError !== null), null, { timeout: 30000 });
        const afterReload = await tab.evaluate(() => ({ restored: window.app.restored, error: window.app.loadError }));
        check(afterReload.error === null && afterReload.restored.length === 1 && afterReload.restored[0].sessionId === first.sessionId &&
            afterReload.restored[0].success === true && afterReload.restored[0].toolCount > 0,
            'after a reload the session is listed and restored', JSON.stringify(afterReload));

        // Restart mcpd (SQLite keeps the record), reload at its new address: restored again.
        await stop(gw);
        gw = await startMcpd('gateway-restarted', [], storage);
        await tab.goto(`${gw.base}/app.html`);
        await tab.waitForFunction(() => window.app && (window.app.restored !== null || window.app.loadError !== null), null, { timeout: 30000 });
        const afterRestart = await tab.evaluate(async (sid) => {
            const out = { restored: window.app.restored, error: window.app.loadError };
            if (out.error === null) {
                const called = await window.app.client.callTool(sid, 'echo', { text: 'after restart' });
                out.text = called.content[0].text;
            }
            return out;
        }, first.sessionId);
        check(afterRestart.error === null && afterRestart.restored.length === 1 && afterRestart.restored[0].success === true,
            'after an mcpd restart the page restores its session from SQLite', JSON.stringify(afterRestart));
        check(afterRestart.text === 'after restart', 'and calls the tool again');
        check(pageErrors.length === 0, 'no errors in the page', pageErrors.join('; '));
    } finally {
        await browser.close();
    }
    await stop(gw);
    await stop(remote);
}

let crashed = null;
try {
    await main();
} catch (e) {
    crashed = e;
}
for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
rmSync(work, { recursive: true, force: true });
if (crashed) {
    console.log(`FAIL - ${crashed.stack ?? crashed}`);
    process.exit(1);
}
console.log(`${checks - failures}/${checks} checks passed`);
process.exit(failures === 0 ? 0 : 1);
