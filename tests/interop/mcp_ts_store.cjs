// tests/interop/mcp_ts_store.cjs — drives @mcp-ts/sdk's session storage for mcpd's interop tests.
//
// Usage: NODE_PATH=<dir>/node_modules node mcp_ts_store.cjs OPS_FILE
// OPS_FILE holds a JSON array of operations, run in order against the sdk's `storage` (the
// backend its own environment selection picks: MCP_TS_STORAGE_TYPE with REDIS_URL,
// MCP_TS_STORAGE_SQLITE_PATH or MCP_TS_STORAGE_FILE). Prints one JSON array on stdout: for each
// operation {"ok": true, "value": …} or {"ok": false, "error": "…"}. The sdk's own log lines
// (console.log) go to stderr, so stdout holds only the results.
//
// Redis Cluster: with MCP_TS_STORAGE_TYPE=redis and MCP_TS_REDIS_CLUSTER_NODES=h1:p1,h2:p2,… the
// sdk's Redis backend runs on an ioredis Cluster made from that seed list instead of the
// single-node client it makes from REDIS_URL (which is then not needed). The sdk 1.6.1 has no
// exported way to hand it a client: its redis module's getRedis() adopts `global.__redis` when it
// has no instance of its own (that global is what its unexported setRedisInstance() sets), so
// the Cluster is put there before the sdk's storage is first used. Its RedisStorageBackend then
// runs unchanged; what of it works on a cluster is pinned down by interop_test.cpp: everything
// but its scans (getAllSessionIds, clearAll and cleanupExpiredSessions SCAN one master, picked
// at random by ioredis), and clearAll's one DEL of keys of many slots fails with CROSSSLOT.
//
// Operations (the sdk's method each maps to):
//   {"op":"create","session":{…},"ttl":s?}               createSession
//   {"op":"update","identity","sessionId","data":{…},"ttl":s?}  updateSession
//   {"op":"get","identity","sessionId"}                   getSession
//   {"op":"list","identity"}                              getIdentitySessionsData
//   {"op":"ids","identity"}                               getIdentityMcpSessions
//   {"op":"all"}                                          getAllSessionIds
//   {"op":"remove","identity","sessionId"}                removeSession
//   {"op":"clear"}                                        clearAll
//   {"op":"cleanup"}                                      cleanupExpiredSessions
//   {"op":"seal","value":…}   the sdk's own encryptObject (STORAGE_ENCRYPTION_KEY)
//   {"op":"open","value":…}   the sdk's own decryptObject
// seal/open run the sdk's crypto code itself: it is not exported, so it is taken from the
// installed dist file (see referenceCrypto) rather than rewritten here.
'use strict';

const fs = require('fs');
const crypto = require('crypto');

console.log = (...args) => console.error(...args);

// Every run is bounded: a backend that never answers fails the run instead of hanging the test.
const deadlineMs = 60000;
setTimeout(() => {
    console.error(`mcp_ts_store.cjs: no result within ${deadlineMs / 1000} s`);
    process.exit(3);
}, deadlineMs).unref();

const { storage } = require('@mcp-ts/sdk/server');

// The ioredis Cluster for MCP_TS_REDIS_CLUSTER_NODES (see the header), or null.
function useRedisCluster() {
    const list = process.env.MCP_TS_REDIS_CLUSTER_NODES;
    if (!list) return null;
    const Redis = require('ioredis');
    const nodes = list.split(',').map((hostPort) => {
        const colon = hostPort.lastIndexOf(':');
        if (colon <= 0) throw new Error(`MCP_TS_REDIS_CLUSTER_NODES: '${hostPort}' is not host:port`);
        return { host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) };
    });
    const cluster = new Redis.Cluster(nodes, {
        // Give up instead of retrying forever when no seed answers.
        clusterRetryStrategy: (times) => (times > 5 ? null : 200),
        redisOptions: { maxRetriesPerRequest: 1 },
    });
    cluster.on('error', (err) => console.error('ioredis Cluster error:', err.message));
    global.__redis = cluster;
    return cluster;
}
let redisCluster = null; // made only for runs that use the storage (it keeps node running)

// encryptObject/decryptObject of the installed @mcp-ts/sdk (src/server/storage/crypto.ts, which
// only its Supabase backend uses), evaluated from its dist/server/index.js.
function referenceCrypto() {
    const file = require.resolve('@mcp-ts/sdk/server');
    const text = fs.readFileSync(file, 'utf8');
    const begin = text.indexOf('var ALGORITHM = "aes-256-gcm";');
    const end = text.indexOf('var SupabaseStorageBackend', begin);
    if (begin < 0 || end < 0) {
        throw new Error(`cannot find the sdk's crypto functions in ${file}: its layout changed`);
    }
    const body = `${text.slice(begin, end)}\nreturn { encryptObject, decryptObject };`;
    return new Function('crypto', 'process', 'console', 'Buffer', body)(
        crypto, process, console, Buffer);
}

// The sdk falls back to memory when Redis cannot be reached; a test must not read that as
// "Node sees nothing". Each backend class has a field the others lack. (The sdk's `storage` is a
// Proxy whose every property is an async function returning the backend's property.)
async function checkBackend() {
    const want = (process.env.MCP_TS_STORAGE_TYPE || '').toLowerCase();
    const marker = { redis: 'KEY_PREFIX', file: 'filePath', sqlite: 'dbPath' }[want];
    if (!marker) throw new Error(`set MCP_TS_STORAGE_TYPE to redis, file or sqlite (got "${want}")`);
    if ((await storage[marker]()) === undefined) {
        throw new Error(`@mcp-ts/sdk did not open its ${want} backend (see its log on stderr)`);
    }
    if (redisCluster && (await storage.redis()) !== redisCluster) {
        throw new Error('@mcp-ts/sdk does not use the ioredis Cluster of MCP_TS_REDIS_CLUSTER_NODES');
    }
}

async function run(op, ref) {
    switch (op.op) {
    case 'create': return storage.createSession(op.session, op.ttl);
    case 'update': return storage.updateSession(op.identity, op.sessionId, op.data, op.ttl);
    case 'get': return storage.getSession(op.identity, op.sessionId);
    case 'list': return storage.getIdentitySessionsData(op.identity);
    case 'ids': return storage.getIdentityMcpSessions(op.identity);
    case 'all': return storage.getAllSessionIds();
    case 'remove': return storage.removeSession(op.identity, op.sessionId);
    case 'clear': return storage.clearAll();
    case 'cleanup': return storage.cleanupExpiredSessions();
    case 'seal': return ref().encryptObject(op.value);
    case 'open': return ref().decryptObject(op.value);
    default: throw new Error(`unknown op ${JSON.stringify(op.op)}`);
    }
}

async function main() {
    const ops = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
    let crypt = null;
    const ref = () => (crypt = crypt || referenceCrypto());
    const storageOps = ops.some((op) => op.op !== 'seal' && op.op !== 'open');
    if (storageOps) {
        redisCluster = useRedisCluster();
        await checkBackend();
    }
    const results = [];
    for (const op of ops) {
        try {
            const value = await run(op, ref);
            results.push({ ok: true, value: value === undefined ? null : value });
        } catch (e) {
            results.push({ ok: false, error: String(e && e.message ? e.message : e) });
        }
    }
    if (storageOps) await storage.disconnect();
    process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
