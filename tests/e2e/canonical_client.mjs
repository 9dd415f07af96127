// The canonical task through the official TypeScript MCP SDK (@modelcontextprotocol/sdk), for
// tests/e2e/test_typescript_sdk.py: start_testbed, start_workflow, wait_for_execution (asking for
// progress), get_workflow_execution. Every structuredContent is validated against the tool's
// outputSchema with ajv (a dependency of the SDK). Prints one JSON report on stdout.
//
//   CONTROLROOM_URL=http://127.0.0.1:8700/mcp CONTROLROOM_TOKEN=... node canonical_client.mjs alice 10
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

const addFormats = addFormatsModule.default ?? addFormatsModule;
const [namespace = "alice", stfCount = "10"] = process.argv.slice(2);
const url = new URL(process.env.CONTROLROOM_URL);
const token = process.env.CONTROLROOM_TOKEN;

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

const client = new Client({ name: "controlroom-e2e-ts", version: "0.1.0" });
const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
await client.connect(transport);

const { tools } = await client.listTools();
const schemas = new Map(tools.map((tool) => [tool.name, tool.outputSchema]));
const report = { server: client.getServerVersion(), calls: [], progress: [], tools: tools.length, schemaErrors: [] };
// every tool's input and output schema must compile as JSON Schema 2020-12
for (const tool of tools) {
  for (const [kind, schema] of [["inputSchema", tool.inputSchema], ["outputSchema", tool.outputSchema]]) {
    if (!schema) continue;
    try { ajv.compile(schema); } catch (error) { report.schemaErrors.push(`${tool.name}.${kind}: ${error.message}`); }
  }
}

async function call(name, args, options = {}) {
  process.stderr.write(`calling ${name}\n`); // names the step when the transport fails
  const result = await client.callTool({ name, arguments: args }, undefined, options);
  const schema = schemas.get(name);
  const entry = { name, isError: Boolean(result.isError), hasOutputSchema: Boolean(schema),
                  hasStructuredContent: result.structuredContent !== undefined, valid: null, errors: null,
                  rejectsNonObject: null };
  if (schema && result.structuredContent !== undefined) {
    const validate = ajv.compile(schema);
    entry.valid = validate(result.structuredContent);
    entry.errors = validate.errors;
    entry.rejectsNonObject = !validate("not an object"); // the validator is not vacuous
  }
  entry.structuredContent = result.structuredContent ?? null;
  if (result.isError) entry.content = result.content;
  report.calls.push(entry);
  return result.structuredContent ?? {};
}

try {
  await call("start_testbed", { namespace });
  const started = await call("start_workflow", { namespace, parameters: { stf_count: Number(stfCount) } });
  // as the tool says: call it again while finished=false (processing still draining), a few times at most
  for (let attempt = 0; attempt < 5; attempt++) {
    const updates = [];
    report.progress.push(updates);
    const waited = await call("wait_for_execution", { execution_id: started.execution_id, timeout_s: 120 }, {
      onprogress: (progress) => updates.push(progress),
      resetTimeoutOnProgress: true,
      timeout: 180_000,
    });
    if (waited.finished) break;
  }
  await call("get_workflow_execution", { execution_id: started.execution_id });
} finally {
  await client.close();
}
process.stdout.write(JSON.stringify(report) + "\n");
