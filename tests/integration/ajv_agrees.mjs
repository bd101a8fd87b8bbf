// Checks mcpd's generated JSON Schemas with ajv, a JSON Schema 2020-12 validator no one here
// wrote: every schema must compile in ajv's strict mode, and on every sample instance ajv and
// mcpd's from_json must agree (except where the case marks the schema as looser, which is the
// documented gap: 32/64-bit integer range and float overflow). Every to_json output must
// validate against the same schema, as structuredContent against an outputSchema would.
// Usage: node ajv_agrees.mjs <node_tools dir with ajv installed> <cases.json>
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [toolsDir, casesFile] = process.argv.slice(2);
if (!toolsDir || !casesFile) {
  console.error("usage: node ajv_agrees.mjs <node_tools dir> <cases.json>");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(toolsDir), "package.json"));
const Ajv2020 = require("ajv/dist/2020").default;

const ajv = new Ajv2020({ strict: true, allErrors: true });
const cases = JSON.parse(readFileSync(casesFile, "utf8"));
let passed = 0;
let failed = 0;
const fail = (message) => {
  failed++;
  console.error(`FAIL ${message}`);
};

for (const c of cases) {
  let validate;
  try {
    validate = ajv.compile(c.schema);
  } catch (e) {
    fail(`${c.name}: ajv refuses the schema: ${e.message}\n  ${JSON.stringify(c.schema)}`);
    continue;
  }
  passed++;
  for (const i of c.instances) {
    const instance = JSON.parse(i.text);
    const ajvAccepts = validate(instance);
    const why = ajvAccepts ? "" : ajv.errorsText(validate.errors);
    const expected = i.schema_looser ? true : i.accepted;
    if (ajvAccepts !== expected || (i.schema_looser && i.accepted)) {
      fail(
        `${c.name}: ${i.text.replace(/\s+/g, " ")}\n` +
          `  ajv: ${ajvAccepts ? "valid" : "invalid (" + why + ")"}; ` +
          `from_json: ${i.accepted ? "converted" : "refused (" + i.error + ")"}` +
          (i.schema_looser ? " (marked schema_looser)" : ""),
      );
    } else {
      passed++;
    }
    if (i.accepted) {
      if (validate(i.to_json)) {
        passed++;
      } else {
        fail(
          `${c.name}: to_json output does not match the schema: ${JSON.stringify(i.to_json)}: ` +
            ajv.errorsText(validate.errors),
        );
      }
    }
  }
}

console.log(`ajv ${require("ajv/package.json").version}: ${passed} checks agree`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
