// tests/integration/guards_e2e.mjs — the official TypeScript SDK as the client of two `mcpd
// serve` instances sharing one Redis (a fleet of two), calling the demo tools guarded by
// configuration: server_time cached (the fleet shares the entry), echo rate-limited per
// session, countdown locked per n (a call on the other instance is refused while it runs).
// Usage: node guards_e2e.mjs <node_tools dir> <url of instance 1> <url of instance 2>
import path from "node:path";
import { pathToFileURL } from "node:url";

const [toolsDir, url1, url2] = process.argv.slice(2);
const sdk = (p) =>
  import(pathToFileURL(path.join(path.resolve(toolsDir), "node_modules/@modelcontextprotocol/sdk/dist/esm", p)).href);
const { Client } = await sdk("client/index.js");
const { StreamableHTTPClientTransport } = await sdk("client/streamableHttp.js");

let failures = 0;
function check(ok, what, detail) {
  if (ok) {
    console.log(`ok - ${what}`);
  } else {
    failures++;
    console.log(`not ok - ${what}: ${JSON.stringify(detail)}`);
  }
}

async function connect(url, name) {
  const client = new Client({ name, version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

const a = await connect(url1, "client-a");
const b = await connect(url2, "client-b");
const text = (r) => r.content?.[0]?.text;

// Cache: the second call (on either instance) returns the first call's reading.
const t1 = await a.callTool({ name: "server_time", arguments: {} });
await new Promise((r) => setTimeout(r, 20));
const t2 = await a.callTool({ name: "server_time", arguments: {} });
const t3 = await b.callTool({ name: "server_time", arguments: {} });
check(text(t1) === text(t2), "a cached tool called twice runs once", [t1, t2]);
check(text(t1) === text(t3), "the fleet shares the cached result", [t1, t3]);

// Rate limit: 3 echo calls per minute per session.
const echoes = [];
for (let i = 0; i < 4; i++) echoes.push(await a.callTool({ name: "echo", arguments: { text: `hi ${i}` } }));
check(echoes.slice(0, 3).every((r) => !r.isError && text(r).startsWith("hi ")), "calls within the limit pass", echoes);
const limited = echoes[3];
check(
  limited.isError === true &&
    /^Rate limit exceeded: max 3 echo calls per minute\. Try again in \d+ seconds?\.$/.test(text(limited)),
  "the call over the limit is a tool error with the limit, the window and when to retry",
  limited,
);
const other = await b.callTool({ name: "echo", arguments: { text: "other session" } });
check(!other.isError && text(other) === "other session", "another session is not blocked", other);

// Lock: countdown {n} is locked per n across the fleet; the instance that does not hold it
// refuses at once.
const slow = a.callTool({ name: "countdown", arguments: { n: 3, interval_ms: 300 } });
await new Promise((r) => setTimeout(r, 150));
const busy = await b.callTool({ name: "countdown", arguments: { n: 3, interval_ms: 0 } });
check(busy.isError === true && text(busy) === "Operation in progress — try again in a moment", "a locked operation is refused while held elsewhere", busy);
const freeOther = await b.callTool({ name: "countdown", arguments: { n: 2, interval_ms: 0 } });
check(!freeOther.isError, "another lock key is free", freeOther);
const done = await slow;
check(!done.isError && text(done) === "Liftoff after 3 steps", "the holder finishes", done);
const after = await b.callTool({ name: "countdown", arguments: { n: 3, interval_ms: 0 } });
check(!after.isError, "the lock is released when the holder finishes", after);

await a.close();
await b.close();
console.log(failures === 0 ? "all passed" : `${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
