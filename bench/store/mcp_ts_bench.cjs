// bench/store/mcp_ts_bench.cjs — the reference side of mcpd_bench_store: @mcp-ts/sdk's Redis
// session storage (ioredis, one connection), timed the way main.cpp times mcpd's store.
//
// Usage: NODE_PATH=<interop>/node_modules MCP_TS_STORAGE_TYPE=redis REDIS_URL=… \
//        node mcp_ts_bench.cjs OP COUNT IN_FLIGHT PREFIX RECORD_FILE
//   OP create:     COUNT createSession calls, ids PREFIX0…, identity PREFIX, the record's body
//                  from RECORD_FILE (the same JSON mcpd's side writes)
//      get:        COUNT getSession calls over sessions get0…get999 of identity "bench-get"
//      list:       COUNT getIdentitySessionsData("bench-list"), an identity with 50 sessions
// IN_FLIGHT async workers share the COUNT calls. The storage connects (PING) before the clock
// starts. Every reply is checked (the sdk turns Redis errors into null / [] and logs them, so
// a wrong count is an error here). Prints one line "RESULT {json}" with the seconds, the calls
// and this process's CPU time over the timed part; the sdk's own log lines go to stderr.
'use strict';

const fs = require('fs');

console.log = (...args) => console.error(...args);

const { storage } = require('@mcp-ts/sdk/server');

async function main() {
    const [op, countText, depthText, prefix, recordFile] = process.argv.slice(2);
    const count = Number(countText);
    const depth = Number(depthText);
    if (!['create', 'get', 'list'].includes(op) || !(count > 0) || !(depth > 0)) {
        throw new Error('usage: mcp_ts_bench.cjs create|get|list COUNT IN_FLIGHT PREFIX RECORD_FILE');
    }
    const body = JSON.parse(fs.readFileSync(recordFile, 'utf8'));
    if ((await storage.KEY_PREFIX) === undefined) {
        throw new Error('@mcp-ts/sdk did not open its Redis backend (see its log above)');
    }

    let issued = 0;
    let errors = 0;
    let firstError = '';
    const fail = (what) => {
        if (errors++ === 0) firstError = what;
    };
    const call = {
        create: async (i) => {
            await storage.createSession({ ...body, identity: prefix, sessionId: `${prefix}${i}` });
        },
        get: async (i) => {
            const s = await storage.getSession('bench-get', `get${i % 1000}`);
            if (!s || s.sessionId !== `get${i % 1000}`) fail(`get${i % 1000}: ${JSON.stringify(s)}`);
        },
        list: async () => {
            const all = await storage.getIdentitySessionsData('bench-list');
            // What a lister reads of each (as mcpd's gateway lists them): id, server, state.
            const listed = all.filter((r) => r.sessionId && r.serverUrl && r.active === true);
            if (listed.length !== 50) fail(`list: ${listed.length} sessions, expected 50`);
        },
    }[op];
    async function worker() {
        while (issued < count) {
            const i = issued++;
            try {
                await call(i);
            } catch (e) {
                fail(String(e && e.message ? e.message : e));
            }
        }
    }

    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: depth }, worker));
    const t1 = process.hrtime.bigint();
    const cpu = process.cpuUsage(cpu0);
    await storage.disconnect();
    const result = {
        op, count, depth, errors, firstError,
        seconds: Number(t1 - t0) / 1e9,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
