// tests/sdk_client/client.mjs — the official TypeScript SDK client (@modelcontextprotocol/sdk,
// pinned in tests/node/package.json) drives a running mcpd over one transport and checks every
// answer: tools (list, call, structured output, argument errors), progress, a resource, a
// prompt, elicitation and sampling answered by this client, logging, cancellation, ping and the
// end of the session. run.sh starts mcpd (HTTP) or lets the SDK spawn it (stdio).
//
// Usage: node client.mjs <node_tools dir> <transport> <target>
//   transport: streamable-http (mcpd answers POSTs as SSE streams) | streamable-http-json
//              (mcpd runs with --json-response) | legacy-sse | stdio
//   target: the /mcp URL (streamable-http, legacy-sse) or the mcpd binary (stdio)
// Exits 0 when every check passed; otherwise prints the failed check and exits 1.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir, transportKind, target] = process.argv.slice(2);
if (!toolsDir || !transportKind || !target) {
    console.error('usage: client.mjs <node_tools dir> <streamable-http[-json]|legacy-sse|stdio> <url|mcpd>');
    process.exit(2);
}

// The SDK lives in build/node_tools, not next to this file: import it by path.
const sdkDir = path.join(toolsDir, 'node_modules/@modelcontextprotocol/sdk/dist/esm');
const sdk = async (file) => import(pathToFileURL(path.join(sdkDir, file)).href);
const { Client } = await sdk('client/index.js');
const { StreamableHTTPClientTransport, StreamableHTTPError } = await sdk('client/streamableHttp.js');
const { SSEClientTransport } = await sdk('client/sse.js');
const { StdioClientTransport } = await sdk('client/stdio.js');
const {
    CreateMessageRequestSchema, ElicitRequestSchema, LoggingMessageNotificationSchema, McpError, ErrorCode
} = await sdk('types.js');

let current = 'start';
const step = async (name, fn) => {
    current = name;
    await fn();
    console.log(`ok - ${transportKind}: ${name}`);
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const textOf = (result) => {
    assert.ok(Array.isArray(result.content), 'result.content is an array');
    assert.equal(result.content[0]?.type, 'text', 'first content item is text');
    return result.content[0].text;
};

// --- the client and what it answers ---------------------------------------------------------

const client = new Client(
    { name: 'mcpd-sdk-client-test', version: '1.0.0' },
    { capabilities: { elicitation: {}, sampling: {} } }
);
const elicitations = [];
client.setRequestHandler(ElicitRequestSchema, async (req) => {
    elicitations.push(req.params);
    return { action: 'accept', content: { response: 'blue-42' } };
});
const samplings = [];
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    samplings.push(req.params);
    const prompt = req.params.messages[0]?.content?.text ?? '';
    return { model: 'test-model', role: 'assistant', content: { type: 'text', text: `sampled(${prompt})` } };
});
const logs = [];
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(n.params);
});
const transportErrors = [];
client.onerror = (e) => transportErrors.push(e);

// Every message from the server, in arrival order (installed after connect): what the server
// sent, independent of what the SDK makes of it.
const wire = [];
const recordWire = () => {
    const deliver = transport.onmessage;
    transport.onmessage = (message, extra) => {
        wire.push(message);
        deliver(message, extra);
    };
};

// Calls a tool with an onprogress callback. Returns the result, the progress the SDK delivered
// and the progress notifications the server sent for this request before its response.
//
// The SDK (1.32.2) drops a progress notification that arrives together with the response (it
// dispatches notifications a microtask later, after the response removed the handler, and
// reports "unknown token" to onerror): typescript-sdk issue #2580. A tool's last progress sent
// just before it returns hits that on stdio, so the wire is the record of what was sent, and
// what onprogress got must be an in-order prefix of it.
async function callWithProgress(params) {
    const start = wire.length;
    const delivered = [];
    const result = await client.callTool(params, undefined, { onprogress: (p) => delivered.push(p) });
    const later = wire.slice(start);
    const at = later.findIndex((m) => m.method === undefined && ('result' in m || 'error' in m));
    assert.ok(at >= 0, 'the response is on the wire');
    const id = later[at].id;
    const sent = later.filter((m) => m.method === 'notifications/progress' && m.params.progressToken === id);
    assert.ok(sent.length >= 3, `server sent ${sent.length} progress notifications`);
    assert.ok(
        sent.every((m) => later.indexOf(m) < at),
        'every progress notification comes before the response'
    );
    const sentParams = sent.map((m) => m.params);
    assert.ok(delivered.length >= 2, `onprogress got ${delivered.length} notifications`);
    assert.deepEqual(
        delivered,
        sentParams.slice(0, delivered.length).map(({ progressToken, ...rest }) => rest),
        'onprogress got the sent notifications in order'
    );
    return { result, delivered, sent: sentParams };
}

// The Content-Type of each answer to a POST /mcp: shows which response mode mcpd is in.
const postAnswers = [];
const recordingFetch = async (url, init) => {
    const res = await fetch(url, init);
    if (init?.method === 'POST') postAnswers.push({ status: res.status, type: res.headers.get('content-type') });
    return res;
};

const streamable = transportKind.startsWith('streamable-http');
const jsonMode = transportKind === 'streamable-http-json';
let transport;
let workdir;
if (streamable) {
    transport = new StreamableHTTPClientTransport(new URL(target), { fetch: recordingFetch });
} else if (transportKind === 'legacy-sse') {
    transport = new SSEClientTransport(new URL(target.replace(/\/mcp$/, '/sse')));
} else if (transportKind === 'stdio') {
    // A scratch working directory and in-memory storage: nothing left behind.
    workdir = mkdtempSync(path.join(tmpdir(), 'mcpd-sdk-stdio-'));
    transport = new StdioClientTransport({
        command: target,
        args: ['serve', '--stdio', '--conformance'],
        env: { ...process.env, MCP_TS_STORAGE_TYPE: 'memory' },
        cwd: workdir,
        stderr: 'inherit'
    });
} else {
    console.error(`unknown transport ${transportKind}`);
    process.exit(2);
}

const expectedTools = {
    echo: {
        type: 'object',
        properties: { text: { type: 'string', description: 'What to echo' } },
        required: ['text']
    },
    add: {
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'number' } },
        required: ['a', 'b']
    },
    test_elicitation: {
        type: 'object',
        properties: { message: { type: 'string', description: 'The message to show the user' } },
        required: ['message']
    },
    test_sampling: {
        type: 'object',
        properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } },
        required: ['prompt']
    }
};

async function main() {
    await step('connect and initialize', async () => {
        await client.connect(transport);
        recordWire();
        assert.equal(client.getServerVersion()?.name, 'mcpd');
        const caps = client.getServerCapabilities();
        for (const c of ['tools', 'resources', 'prompts', 'logging'])
            assert.ok(caps?.[c], `server declares the ${c} capability`);
        if (streamable) {
            assert.equal(transport.protocolVersion, '2025-11-25', 'negotiated the SDK latest revision');
            assert.match(transport.sessionId ?? '', /^[A-Za-z0-9._~-]{16,}$/, 'Mcp-Session-Id looks random');
        }
    });

    await step('ping', async () => {
        assert.deepEqual(await client.ping(), {});
    });

    await step('tools/list: demo and fixture tools with their schemas', async () => {
        const { tools } = await client.listTools();
        const byName = new Map(tools.map((t) => [t.name, t]));
        for (const name of [
            'echo', 'add', 'countdown', 'server_time',
            'test_simple_text', 'test_tool_with_progress', 'test_elicitation', 'test_sampling'
        ])
            assert.ok(byName.has(name), `tool ${name} is listed`);
        for (const [name, schema] of Object.entries(expectedTools))
            assert.deepEqual(byName.get(name).inputSchema, schema, `${name} inputSchema`);
        assert.deepEqual(byName.get('add').outputSchema, {
            type: 'object', properties: { sum: { type: 'number' } }, required: ['sum']
        });
        assert.deepEqual(byName.get('echo').annotations, { readOnlyHint: true, idempotentHint: true });
        const countdown = byName.get('countdown').inputSchema;
        assert.deepEqual(countdown.required, ['n']);
        assert.deepEqual(countdown.properties.n,
            { type: 'integer', minimum: 1, maximum: 100, description: 'Where to start' });
        assert.deepEqual(countdown.properties.interval_ms, {
            type: 'integer', minimum: 0, maximum: 10000, description: 'Milliseconds per step', default: 100
        });
    });

    await step('tools/call echo', async () => {
        const text = 'héllo, wörld ✓ "quoted" \\ backslash\nnewline';
        const answers = postAnswers.length;
        const r = await client.callTool({ name: 'echo', arguments: { text } });
        assert.equal(r.isError ?? false, false);
        assert.equal(textOf(r), text);
        if (streamable) {
            // A handler that sends nothing first: JSON with --json-response, else an SSE stream.
            assert.deepEqual(postAnswers.slice(answers), [
                { status: 200, type: jsonMode ? 'application/json' : 'text/event-stream' }
            ]);
        }
    });

    await step('tools/call add: structuredContent {sum}', async () => {
        const r = await client.callTool({ name: 'add', arguments: { a: 2, b: 3.5 } });
        assert.equal(r.isError ?? false, false);
        assert.deepEqual(r.structuredContent, { sum: 5.5 });
        assert.deepEqual(JSON.parse(textOf(r)), { sum: 5.5 });
    });

    await step('tools/call add with a wrong argument type: a tool error naming the field', async () => {
        const r = await client.callTool({ name: 'add', arguments: { a: 'two', b: 1 } });
        assert.equal(r.isError, true);
        assert.match(textOf(r), /"a"/);
    });

    await step('tools/call of an unknown tool: invalid params naming it', async () => {
        await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), (e) => {
            assert.ok(e instanceof McpError, String(e));
            assert.equal(e.code, ErrorCode.InvalidParams);
            assert.match(e.message, /Unknown tool: no_such_tool/);
            return true;
        });
    });

    await step('tools/call test_tool_with_progress: progress notifications', async () => {
        const { result, sent } = await callWithProgress({ name: 'test_tool_with_progress', arguments: {} });
        assert.deepEqual(sent.map((p) => p.progress), [0, 50, 100]);
        for (const p of sent) {
            assert.equal(p.total, 100);
            assert.match(p.message, /^Completed step \d+ of 100$/);
        }
        // The fixture answers with the progress token it was given (the SDK uses the request id).
        assert.equal(textOf(result), String(sent[0].progressToken));
    });

    await step('resources/read test://static-text', async () => {
        const r = await client.readResource({ uri: 'test://static-text' });
        assert.equal(r.contents.length, 1);
        assert.deepEqual(r.contents[0], {
            uri: 'test://static-text',
            mimeType: 'text/plain',
            text: 'This is the content of the static text resource.'
        });
    });

    await step('resources/read of an unknown URI: resource not found', async () => {
        await assert.rejects(client.readResource({ uri: 'test://no-such-resource' }), (e) => {
            assert.ok(e instanceof McpError, String(e));
            assert.equal(e.code, -32002);
            return true;
        });
    });

    await step('prompts/get test_prompt_with_arguments', async () => {
        const r = await client.getPrompt({
            name: 'test_prompt_with_arguments',
            arguments: { arg1: 'first', arg2: 'second' }
        });
        assert.equal(r.messages.length, 1);
        assert.equal(r.messages[0].role, 'user');
        assert.deepEqual(r.messages[0].content, {
            type: 'text',
            text: "Prompt with arguments: arg1='first', arg2='second'"
        });
    });

    await step('elicitation: the server asks, this client answers, the tool sees the answer', async () => {
        const r = await client.callTool({
            name: 'test_elicitation',
            arguments: { message: 'Favourite colour?' }
        });
        assert.equal(elicitations.length, 1);
        assert.equal(elicitations[0].message, 'Favourite colour?');
        assert.equal(elicitations[0].requestedSchema.properties.response.type, 'string');
        const text = textOf(r);
        assert.match(text, /action=accept/);
        assert.match(text, /blue-42/);
    });

    await step('sampling: the server asks this client for a completion', async () => {
        const r = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'say hi' } });
        assert.equal(samplings.length, 1);
        assert.equal(samplings[0].maxTokens, 100);
        assert.equal(textOf(r), 'LLM response: sampled(say hi)');
    });

    const countdownLogs = () => logs.filter((l) => l.logger === 'countdown');

    await step('logging: setLevel debug, then countdown logs each step', async () => {
        await client.setLoggingLevel('debug');
        const { result, sent } = await callWithProgress({ name: 'countdown', arguments: { n: 3, interval_ms: 10 } });
        assert.equal(textOf(result), 'Liftoff after 3 steps');
        assert.deepEqual(sent.map((p) => [p.progress, p.total, p.message]), [
            [0, 3, '3 to go'], [1, 3, '2 to go'], [2, 3, '1 to go'], [3, 3, 'done']
        ]);
        // Related notifications travel before the response on the same stream (or pipe).
        assert.deepEqual(countdownLogs().map((l) => [l.level, l.data.remaining]), [
            ['debug', 3], ['debug', 2], ['debug', 1]
        ]);
    });

    await step('logging: above the level nothing is sent', async () => {
        await client.setLoggingLevel('info');
        const before = countdownLogs().length;
        const r = await client.callTool({ name: 'countdown', arguments: { n: 2, interval_ms: 0 } });
        assert.equal(textOf(r), 'Liftoff after 2 steps');
        assert.equal(countdownLogs().length, before);
        await client.setLoggingLevel('debug');
    });

    await step('cancellation: an aborted countdown stops on the server', async () => {
        const n = 100, intervalMs = 100; // 10 s if it ran to the end
        const controller = new AbortController();
        const reason = new Error('cancelled by the test');
        const before = countdownLogs().length;
        let steps = 0;
        const call = client.callTool({ name: 'countdown', arguments: { n, interval_ms: intervalMs } }, undefined, {
            signal: controller.signal,
            onprogress: () => {
                if (++steps === 3) controller.abort(reason);
            }
        });
        // The SDK rejects with the reason wrapped in an McpError.
        await assert.rejects(call, (e) => e instanceof McpError && e.message.includes(reason.message));
        // The server has stopped when its debug logs stop: wait for a quiet second, and give up
        // well before a countdown that ignored the cancellation would have ended by itself.
        const started = Date.now();
        let seen = countdownLogs().length, quietSince = Date.now();
        while (Date.now() - quietSince < 1000) {
            assert.ok(Date.now() - started < 6000, 'countdown still logging 6 s after the cancellation');
            await sleep(50);
            if (countdownLogs().length !== seen) {
                seen = countdownLogs().length;
                quietSince = Date.now();
            }
        }
        const ran = seen - before;
        assert.ok(ran >= 3 && ran < n, `countdown ran ${ran} of ${n} steps`);
    });

    await step('after the cancellation the session still serves calls', async () => {
        const r = await client.callTool({ name: 'echo', arguments: { text: 'still here' } });
        assert.equal(textOf(r), 'still here');
        assert.deepEqual(await client.ping(), {});
    });

    await step('concurrent calls on one session all answer', async () => {
        const calls = [];
        for (let i = 0; i < 20; ++i) calls.push(client.callTool({ name: 'add', arguments: { a: i, b: 1000 } }));
        const results = await Promise.all(calls);
        results.forEach((r, i) => assert.deepEqual(r.structuredContent, { sum: i + 1000 }));
    });

    await step('no transport errors', async () => {
        // A late progress notification is reported to onerror by the SDK (see
        // callWithProgress); anything else is a failure. Checked before the session ends: closing
        // a legacy-SSE client aborts the POSTs whose 202 it has not read yet (the answers came on
        // the stream), and each abort is reported here too.
        const unexpected = transportErrors.filter(
            (e) => !/^Received a progress notification for an unknown token/.test(e.message)
        );
        assert.deepEqual(unexpected.map(String), []);
    });

    if (streamable) {
        await step('DELETE ends the session: the old id answers 404, no id answers 400', async () => {
            const sessionId = transport.sessionId;
            await transport.terminateSession();
            assert.equal(transport.sessionId, undefined);
            // This client has dropped the id: the server sees a request without a session.
            await assert.rejects(client.ping(), (e) => {
                assert.ok(e instanceof StreamableHTTPError, String(e));
                assert.equal(e.code, 400);
                return true;
            });
            // A client that still holds the ended session id gets 404 (start a new session).
            const stale = new StreamableHTTPClientTransport(new URL(target), { sessionId });
            const other = new Client({ name: 'stale', version: '1.0.0' });
            await other.connect(stale); // with a session id the SDK skips initialize
            await assert.rejects(other.callTool({ name: 'echo', arguments: { text: 'x' } }), (e) => {
                assert.ok(e instanceof StreamableHTTPError, String(e));
                assert.equal(e.code, 404);
                assert.match(e.message, /Session not found/);
                return true;
            });
            await other.close();
        });
    }

    if (transportKind === 'legacy-sse') {
        await step('closing the SSE stream ends the session: its /messages answer 404', async () => {
            const endpoint = transport._endpoint; // the URL from the server's `endpoint` event
            assert.ok(endpoint instanceof URL, 'the endpoint event gave a URL');
            assert.match(endpoint.pathname + endpoint.search, /^\/messages\?sessionId=[A-Za-z0-9._~-]{16,}$/);
            await client.close();
            const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
            let status = 0;
            for (let i = 0; i < 100 && status !== 404; ++i) {
                // The server notices the closed stream asynchronously.
                const res = await fetch(endpoint, {
                    method: 'POST',
                    headers: { 'content-type': 'application/json' },
                    body: JSON.stringify(ping)
                });
                status = res.status;
                await res.body?.cancel();
                if (status !== 404) await sleep(50);
            }
            assert.equal(status, 404);
        });
    }

    await client.close();
}

try {
    await main();
    console.log(`${transportKind}: all checks passed`);
} catch (e) {
    console.error(`not ok - ${transportKind}: ${current}`);
    console.error(e);
    process.exitCode = 1;
    await client.close().catch(() => {});
} finally {
    if (workdir) rmSync(workdir, { recursive: true, force: true });
}
