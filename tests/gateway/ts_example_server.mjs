// tests/gateway/ts_example_server.mjs — runs one of the official TypeScript SDK's example MCP
// servers (@modelcontextprotocol/sdk dist/esm/examples/server/<name>.js, pinned in tests/node)
// on an ephemeral 127.0.0.1 port instead of the fixed port 3000 it asks for, so that tests can
// run several at once. Prints "listening on http://127.0.0.1:PORT" once it listens.
//
// Usage: node ts_example_server.mjs <node_tools dir> <example name, e.g. simpleSseServer>
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir, example] = process.argv.slice(2);
if (!toolsDir || !example || !/^[A-Za-z]+$/.test(example)) {
    console.error('usage: ts_example_server.mjs <node_tools dir> <example name>');
    process.exit(2);
}

// Every listen() of the example goes to 127.0.0.1 on a free port; the first one is announced.
const listen = net.Server.prototype.listen;
let announced = false;
net.Server.prototype.listen = function (...args) {
    const callback = args.find((a) => typeof a === 'function');
    this.once('listening', () => {
        if (announced) return;
        announced = true;
        console.log(`listening on http://127.0.0.1:${this.address().port}`);
    });
    return callback ? listen.call(this, 0, '127.0.0.1', callback) : listen.call(this, 0, '127.0.0.1');
};

const file = path.join(toolsDir, 'node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server', `${example}.js`);
await import(pathToFileURL(file).href);
process.on('SIGTERM', () => process.exit(0));
