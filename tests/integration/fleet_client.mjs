// tests/integration/fleet_client.mjs — the official TypeScript SDK's client (@modelcontextprotocol/sdk,
// pinned in tests/node) across a fleet behind nginx, run by mcpd_fleet_run (fleet_run.cpp), which
// sets FLEET_URL, FLEET_PIDS, FLEET_NUMBERS and FLEET_ACCESS_LOG. One session, no stickiness: each
// request may land on any instance (docs/fleet.md).
//
// Usage: node fleet_client.mjs <node_tools dir> [--ts-sdk] [--expect-failure]
//
// The scenario: initialize (capabilities {elicitation: {}}); resources/subscribe to test://fleet
// and a tool that announces it changed: notifications/resources/updated must arrive on the GET
// stream; an elicitation tool answered by the client's handler; then a countdown (20 steps, 100 ms
// apart) with progress, during which the instance running it is killed (SIGKILL; read from the
// instance number in its SSE event ids, else by killing instances until its stream breaks) and
// the call's stream resumed with the SDK's resumption token (client.request's resumptionToken /
// onresumptiontoken) on the same transport and session: no second initialize, each progress step
// seen at most once and in order, and the call ends with the JSON-RPC error of a dead instance
// (-32603, "…stopped before answering…") or its result. After it the session still serves
// requests and its GET stream (reopened with its last event id if it was on the killed instance)
// still gets resource updates; nginx's log shows requests on every instance. Prints one SUMMARY
// line; exits 0 only when every check holds.
//
// --ts-sdk: the servers are ts_mcp_server.mjs (tools `progress`, `ask`; no subscriptions), which
// keep sessions in their own memory. --expect-failure: the scenario must fail because a request
// of the session reached an instance that does not know it (HTTP 400/404); then it prints what
// failed and exits 0 (the documented comparison), and exits 1 if everything held or it failed
// another way.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir, ...flags] = process.argv.slice(2);
if (!toolsDir || !process.env.FLEET_URL) {
    console.error('usage (under mcpd_fleet_run): fleet_client.mjs <node_tools dir> [--ts-sdk] [--expect-failure]');
    process.exit(2);
}
const tsSdk = flags.includes('--ts-sdk');
const expectFailure = flags.includes('--expect-failure');
const sdkDir = path.join(toolsDir, 'node_modules/@modelcontextprotocol/sdk/dist/esm');
const sdk = async (file) => import(pathToFileURL(path.join(sdkDir, file)).href);
const { Client } = await sdk('client/index.js');
const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
const types = await sdk('types.js');

const url = new URL(process.env.FLEET_URL);
const pids = (process.env.FLEET_PIDS ?? '').split(',').filter(Boolean).map(Number);
const upstreams = (process.env.FLEET_UPSTREAMS ?? '').split(',').filter(Boolean);
const numbers = (process.env.FLEET_NUMBERS ?? '').split(',').filter(Boolean);
const accessLog = process.env.FLEET_ACCESS_LOG;
const tools = tsSdk
    ? { countdown: 'progress', countdownArgs: { steps: 20, interval_ms: 100 }, elicit: 'ask', subscribe: false }
    : { countdown: 'countdown', countdownArgs: { n: 20, interval_ms: 100 }, elicit: 'test_elicitation', subscribe: true };
const steps = 20;
const resourceUri = 'test://fleet';

const t0 = Date.now();
const log = (...a) => console.log(`[${String(Date.now() - t0).padStart(5)} ms]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what, pred, ms) {
    const deadline = Date.now() + ms;
    while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await sleep(10);
    }
}

// --- the wire, as the SDK's transport sends and reads it (its `fetch` option) -------------------

// Event ids are "<session>.<stream>.<seq>"; a standalone (GET) stream is numbered n and a POST
// stream (n << 32) + k, n the instance's fleet number (docs/fleet.md). null: not an mcpd id.
function instanceOfEventId(id) {
    const parts = String(id ?? '').split('.');
    if (parts.length < 3 || !/^[0-9]+$/.test(parts.at(-2))) return null;
    const stream = BigInt(parts.at(-2));
    return String(stream >= 1n << 32n ? stream >> 32n : stream);
}
const instanceIndex = (number) => (number === null ? -1 : numbers.indexOf(number));
const describeInstance = (number) => {
    const i = instanceIndex(number);
    return i < 0 ? `instance number ${number}` : `instance ${i + 1} (port ${upstreams[i]}, pid ${pids[i]})`;
};

const wire = []; // one record per HTTP request the transport made
function what(body) {
    try {
        const m = JSON.parse(body);
        if (m.method) return { rpc: m.method, id: m.id, tool: m.params?.name };
        return { rpc: 'response', id: m.id };
    } catch {
        return { rpc: '?' };
    }
}
function parseSse(rec, stream) {
    (async () => {
        const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        try {
            for (;;) {
                const { value, done } = await reader.read();
                if (done) break;
                buf += value.replace(/\r\n?/g, '\n');
                let cut;
                while ((cut = buf.indexOf('\n\n')) >= 0) {
                    const block = buf.slice(0, cut);
                    buf = buf.slice(cut + 2);
                    const ev = { id: undefined, data: '' };
                    for (const line of block.split('\n')) {
                        const colon = line.indexOf(':');
                        const field = colon < 0 ? line : line.slice(0, colon);
                        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
                        if (field === 'id') ev.id = val;
                        else if (field === 'data') ev.data += (ev.data ? '\n' : '') + val;
                    }
                    try { ev.msg = ev.data ? JSON.parse(ev.data) : undefined; } catch { ev.msg = undefined; }
                    if (ev.id !== undefined) rec.instance ??= instanceOfEventId(ev.id);
                    rec.events.push(ev);
                }
            }
            rec.end = 'done';
        } catch (e) {
            rec.end = 'error';
            rec.error = String(e?.cause ?? e);
        }
        rec.tEnd = Date.now() - t0;
    })();
}
async function recordingFetch(input, init = {}) {
    const headers = new Headers(init.headers);
    const rec = {
        n: wire.length + 1, method: init.method ?? 'GET', ...what(init.body ?? ''),
        session: headers.get('mcp-session-id'), lastEventId: headers.get('last-event-id'),
        t: Date.now() - t0, events: [], end: 'open', instance: null
    };
    if (rec.method !== 'POST') rec.rpc = rec.lastEventId ? 'resume' : 'stream';
    wire.push(rec);
    let res;
    try {
        res = await fetch(input, init);
    } catch (e) {
        rec.status = 'fetch failed';
        rec.end = 'error';
        rec.error = String(e?.cause ?? e);
        throw e;
    }
    rec.status = res.status;
    rec.contentType = res.headers.get('content-type') ?? '';
    if (!res.ok) {
        rec.body = await res.clone().text().catch(() => '');
        rec.end = 'done';
        return res;
    }
    if (!rec.contentType.startsWith('text/event-stream') || !res.body) {
        rec.end = 'done';
        return res;
    }
    const [forSdk, forUs] = res.body.tee();
    parseSse(rec, forUs);
    return new Response(forSdk, { status: res.status, statusText: res.statusText, headers: res.headers });
}
// A resumed stream replays events of the stream it resumes: their ids name that stream's instance,
// not the one answering (nginx's log says which that is).
const describe = (r) => `#${r.n} ${r.method} ${r.rpc}${r.tool ? ` ${r.tool}` : ''}${r.id !== undefined ? ` (id ${r.id})` : ''}` +
    ` → ${r.status}${r.instance ? ` ${r.lastEventId ? 'with events of a stream of' : 'on'} ${describeInstance(r.instance)}` : ''}` +
    `${r.servedBy ? `, served by ${r.servedBy} (nginx's log)` : ''}${r.end === 'error' ? ` [broken: ${r.error}]` : ''}`;

// --- checks -----------------------------------------------------------------------------------

const checks = []; // [name, ok, detail]
function check(name, ok, detail = '') {
    checks.push([name, !!ok, detail]);
    log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
    if (!ok) throw new Error(`check failed: ${name}${detail ? `: ${detail}` : ''}`);
}

// A request of the session answered 400/404 by an instance that did not know the session: what
// the TypeScript SDK's servers do without a shared store.
function sessionRefusal() {
    return wire.find((r) => (r.status === 400 || r.status === 404) && r.session);
}

let transport, client;
let failure;
const overall = setTimeout(() => {
    console.log(`SUMMARY fleet_client: FAIL (the scenario did not finish within 60 s); wire:\n${wire.map(describe).join('\n')}`);
    process.exit(1);
}, 60000);

try {
    await scenario();
} catch (e) {
    failure = e;
}
clearTimeout(overall);
await client?.close().catch(() => {});

log('requests as the client saw them:');
for (const r of wire) console.log(`    ${describe(r)}`);
const served = nginxCounts();
if (served) console.log(`    nginx's log: ${served.text}`);

if (!failure) {
    if (expectFailure) {
        console.log(`SUMMARY fleet_client (${tsSdk ? 'TypeScript SDK servers' : 'mcpd fleet'}): UNEXPECTED PASS: every check held, but a failure was expected`);
        process.exit(1);
    }
    console.log(`SUMMARY fleet_client (mcpd fleet): PASS: ${checks.length} checks held: ${checks.map((c) => c[0]).join('; ')}`);
    process.exit(0);
}
const refusal = sessionRefusal();
if (expectFailure && refusal) {
    console.log(`SUMMARY fleet_client (${tsSdk ? 'TypeScript SDK servers' : 'mcpd fleet'}): EXPECTED FAILURE observed: ` +
        `${failure.message}; request ${describe(refusal)} answered ${refusal.body}: the session ` +
        `(${refusal.session}) lives in the memory of the instance that initialized it, and round-robin sent ` +
        `this request to another one (nginx's log, in order: ${nginxLines().map(upstreamName).join(', ')}; ` +
        `${checks.filter((c) => c[1]).length} checks held before it)`);
    process.exit(0);
}
console.log(`SUMMARY fleet_client (${tsSdk ? 'TypeScript SDK servers' : 'mcpd fleet'}): FAIL: ${failure.stack ?? failure}`);
process.exit(1);

// nginx's access log: the upstream(s) of each request, written as each request ends.
function nginxLines() {
    try { return readFileSync(accessLog, 'utf8').split('\n').filter(Boolean); } catch { return []; }
}
// "instance k (port p)" for an access log line (the last upstream nginx tried).
function upstreamName(line) {
    const i = upstreams.findIndex((p) => line.split(', ').at(-1) === `127.0.0.1:${p}`);
    return i < 0 ? line : `instance ${i + 1} (port ${upstreams[i]})`;
}
// Requests per upstream in nginx's access log.
function nginxCounts() {
    if (!accessLog) return null;
    const lines = nginxLines();
    const counts = upstreams.map((p) => lines.filter((l) => l.split(', ').at(-1) === `127.0.0.1:${p}`).length);
    return {
        counts,
        text: `${lines.length} requests: ` + upstreams.map((p, i) => `instance ${i + 1} (port ${p}) ${counts[i]}`).join(', ')
    };
}

async function scenario() {
    // The SDK would resume a broken stream by itself (twice, 1 s apart): off, so that the resume
    // below is the one, made through the request API with the token the SDK handed out.
    transport = new StreamableHTTPClientTransport(url, {
        fetch: recordingFetch,
        reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 }
    });
    client = new Client({ name: 'fleet-client', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    const sdkErrors = [];
    client.onerror = (e) => { sdkErrors.push(String(e?.message ?? e)); };

    let elicitations = 0;
    client.setRequestHandler(types.ElicitRequestSchema, async (req) => {
        elicitations++;
        const field = Object.keys(req.params.requestedSchema?.properties ?? { response: {} })[0];
        return { action: 'accept', content: { [field]: 'fleet says hi' } };
    });
    const updates = [];
    client.setNotificationHandler(types.ResourceUpdatedNotificationSchema, (n) => { updates.push(n.params.uri); });

    // 1. initialize (and notifications/initialized; then the SDK opens the GET stream).
    await client.connect(transport);
    const session = transport.sessionId;
    check('initialize', session, `session ${session}, protocol ${transport.protocolVersion}`);
    // The standalone GET stream: the one the SDK opened, or the one reopened below.
    let reopened;
    const getStream = () => reopened ?? wire.find((r) => r.method === 'GET' && r.rpc === 'stream' && r.status === 200);
    await waitFor('the GET stream', () => getStream() || sessionRefusal(), 5000);
    if (sessionRefusal()) throw new Error(`the GET stream was refused: ${describe(sessionRefusal())}`);
    check('GET stream open', getStream(), describe(getStream()));

    // 2. A resource subscription, and an update that must reach the GET stream.
    const notifyAndExpect = async (label) => {
        const before = updates.length;
        const r = await client.callTool({ name: 'test_notify_resource_updated', arguments: { uri: resourceUri } });
        await waitFor(`notifications/resources/updated (${label})`, () => updates.length > before, 5000);
        const get = getStream();
        const ev = get?.events.find((e) => e.msg?.method === 'notifications/resources/updated' && !e.seen);
        if (ev) ev.seen = true;
        const onGet = ev ? get : undefined;
        check(`resources/updated on the GET stream (${label})`, updates.at(-1) === resourceUri && onGet,
            `${updates.at(-1)} via ${onGet ? describe(onGet) : 'not a GET stream'}; the tool said "${r.content?.[0]?.text}"`);
    };
    if (tools.subscribe) {
        await client.subscribeResource({ uri: resourceUri });
        check('resources/subscribe', true, resourceUri);
        await notifyAndExpect('before the kill');
    }

    // 3. Elicitation: the server asks during the call; the answer goes in its own POST.
    const asked = await client.callTool({ name: tools.elicit, arguments: { message: 'Who is there?' } });
    const askedText = asked.content?.[0]?.text ?? '';
    check('elicitation answered across the fleet', elicitations === 1 && askedText.includes('fleet says hi'), `"${askedText}"`);

    // 4. The countdown; its instance killed mid-way; its stream resumed with the last token. The
    // call is steered onto the instance holding the GET stream (nginx's round-robin goes through
    // the instances in order: pings until the one before it answered), so the kill breaks both.
    const getInstance = instanceIndex(getStream()?.instance ?? null);
    if (getInstance >= 0 && !tsSdk) {
        const before = getInstance === 0 ? pids.length - 1 : getInstance - 1;
        let last = -2;
        for (let i = 0; i < 2 * pids.length && last !== before; i++) {
            const at = wire.length;
            await client.ping();
            last = instanceIndex(wire[at]?.instance ?? null);
        }
        log(`pings until instance ${before + 1} answered one: the countdown should land on instance ${getInstance + 1}, with the GET stream`);
    }
    const progress = []; // [progress, where]
    let phase = 'original stream';
    let lastToken;
    const tokens = [];
    const onresumptiontoken = (t) => { lastToken = t; tokens.push(t); };
    const onprogress = (p) => { progress.push([p.progress, phase]); };
    const params = { name: tools.countdown, arguments: tools.countdownArgs };
    const requestOptions = { onprogress, onresumptiontoken, resetTimeoutOnProgress: true, timeout: 15000 };
    const outcome = (p) => p.then((result) => ({ result }), (error) => ({ error }));
    const original = outcome(client.request({ method: 'tools/call', params }, types.CallToolResultSchema, requestOptions));
    const callRec = () => wire.find((w) => w.method === 'POST' && w.tool === tools.countdown);
    await waitFor('5 progress steps', () => progress.length >= 5, 10000);
    const rec = callRec();
    const running = instanceOfEventId(lastToken);
    const killed = [];
    const kill = (i) => {
        log(`SIGKILL instance ${i + 1} (port ${upstreams[i]}, pid ${pids[i]}) at progress ${progress.at(-1)[0]}`);
        process.kill(pids[i], 'SIGKILL');
        killed.push(i);
    };
    const broken = () => rec.end === 'error' || (rec.end === 'done' && !rec.events.some((e) => e.msg?.id === rec.id && !e.msg?.method));
    if (instanceIndex(running) >= 0) {
        log(`the countdown runs on ${describeInstance(running)} (its event id ${lastToken})`);
        kill(instanceIndex(running));
    } else {
        // No instance number in the event ids: kill one instance at a time until the stream breaks.
        log(`cannot tell the countdown's instance from its event id ${lastToken}: killing instances until its stream breaks`);
        for (let i = 0; i < pids.length - 1 && !broken(); i++) {
            kill(i);
            await sleep(300);
        }
    }
    await waitFor("the countdown's stream to break", () => broken(), 5000).catch(() => {});
    let settled;
    if (broken()) {
        check("the countdown's stream broke with its instance", true, `${describe(rec)}; last token ${lastToken}`);
        // nginx drops its idle connections to the dead instance when it sees them close.
        await sleep(300);
        const logged = nginxLines().length;
        phase = 'resumed stream';
        const firstToken = lastToken;
        let resumed;
        for (let attempt = 1; attempt <= 2; attempt++) {
            log(`resuming with Last-Event-ID ${firstToken} (attempt ${attempt})`);
            const before = wire.length;
            resumed = outcome(client.request({ method: 'tools/call', params }, types.CallToolResultSchema,
                { ...requestOptions, resumptionToken: firstToken, timeout: 10000 }));
            await waitFor('the resume request', () => wire.length > before && wire.at(-1).status !== undefined, 5000);
            const r = wire.at(-1);
            if (r.status === 200) break;
            log(`the resume got ${r.status}${r.status === 502 ? ' (nginx on a connection to the killed instance)' : ''}`);
        }
        settled = await Promise.race([original, resumed]);
        const resumeRec = wire.filter((w) => w.rpc === 'resume').at(-1);
        // Which instance answered: the one request nginx logged since (the resumed stream ends
        // after the answer).
        await waitFor('the resumed stream to end', () => resumeRec?.end !== 'open', 3000).catch(() => {});
        await sleep(100);
        const since = nginxLines().slice(logged);
        if (resumeRec && since.length === 1) resumeRec.servedBy = upstreamName(since[0]);
        check('the stream resumed on the same transport and session', resumeRec?.status === 200 && resumeRec.session === session &&
            !killed.some((i) => resumeRec.servedBy?.startsWith(`instance ${i + 1} `)), resumeRec ? describe(resumeRec) : 'no resume');
    } else {
        log('the countdown stream did not break: the instance killed was not running it');
        settled = await original;
    }
    if (settled.error) {
        const e = settled.error;
        check('the countdown ended with the error for a dead instance', e.code === -32603 && /stopped before answering/.test(e.message),
            `${e.code} ${e.message}`);
    } else {
        const text = settled.result.content?.[0]?.text ?? '';
        check('the countdown ended with its result', /Liftoff|steps/.test(text), `"${text}"`);
    }
    const values = progress.map((p) => p[0]);
    const inOrder = values.every((v, i) => i === 0 || v > values[i - 1]);
    check('each progress step seen at most once, in order', inOrder && new Set(values).size === values.length,
        `${values.length} of ${steps + 1}: ${progress.map((p) => `${p[0]}${p[1] === 'resumed stream' ? '*' : ''}`).join(' ')} (* after the resume)`);
    const seqs = tokens.map((t) => Number(String(t).split('.').at(-1)));
    check('event ids strictly increasing', seqs.every((s, i) => i === 0 || s > seqs[i - 1] || Number.isNaN(s)), tokens.join(' '));

    // 5. The same session goes on: no second initialize, the same session id everywhere.
    const echoed = await client.callTool({ name: 'echo', arguments: { text: 'after the kill' } });
    check('the session still serves requests', echoed.content?.[0]?.text === 'after the kill', `"${echoed.content?.[0]?.text}"`);
    const inits = wire.filter((w) => w.rpc === 'initialize');
    const others = wire.filter((w) => w.rpc !== 'initialize' && w.session !== session);
    check('one initialize, one session', inits.length === 1 && transport.sessionId === session && others.length === 0,
        `${inits.length} initialize; ${others.length} requests with another session id`);
    if (tools.subscribe) {
        const get = getStream();
        if (get.end !== 'open') {
            const lastGetId = get.events.filter((e) => e.id !== undefined).at(-1)?.id;
            log(`the GET stream (${describe(get)}) ended: reopening it with Last-Event-ID ${lastGetId}`);
            const before = wire.length;
            await transport.resumeStream(lastGetId);
            reopened = wire.slice(before).find((r) => r.method === 'GET');
            check('the GET stream reopened', reopened?.status === 200, reopened ? describe(reopened) : 'no request');
        }
        await notifyAndExpect('after the kill');
    }
    const bad = wire.filter((w) => typeof w.status !== 'number' || (w.status >= 400 && w.status !== 502));
    check('no request refused', bad.length === 0, bad.map(describe).join('; '));

    // 6. Every instance served requests (nginx's log; a request is logged once it ends).
    await sleep(300);
    const served = nginxCounts();
    check("nginx's log: requests on every instance", served && served.counts.every((c) => c > 0), served?.text ?? 'no log');
    if (sdkErrors.length) log(`the SDK reported: ${[...new Set(sdkErrors)].join(' | ')}`);
}
