// The official TypeScript SDK as a client over stdio: lists the tools and calls a few,
// validating each structured result against its output schema (the SDK does this itself).
// Anything the SDK prints while doing so (such as ajv's "unknown format ... ignored") is a
// failure: real clients show it to their users on every tools/list.
//   usage: node ts_client.mjs HOST_BINARY FAKE_API_URL
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [host, fakeUrl] = process.argv.slice(2);
const printed = [];
for (const level of ["log", "info", "warn", "error", "debug"]) {
  const original = console[level];
  console[level] = (...args) => {
    printed.push(`${level}: ${args.join(" ")}`);
    original(...args);
  };
}

const transport = new StdioClientTransport({
  command: host,
  args: [],
  env: {
    LUNATASK_API_TOKEN: "lt-test-token-9f3a1c7e5b2d",
    LUNATASK_BASE_URL: fakeUrl,
    LUNATASK_CACHE_DIR: process.env.LUNATASK_CACHE_DIR ?? "",
    LUNATASK_LOG: "warn",
  },
  stderr: "pipe",
});
const client = new Client({ name: "ts-sdk-interop", version: "1" });
await client.connect(transport);
const { tools } = await client.listTools();
if (tools.length < 16) throw new Error(`only ${tools.length} tools`);

const area = "aaaaaaaa-0000-4000-8000-000000000001";
const calls = [
  ["ping", {}],
  ["create_task", { area_id: area, name: "from the TypeScript SDK", priority: 1 }],
  ["list_tasks", { status: "open" }],
  ["list_people", {}],
];
for (const [name, args] of calls) {
  const result = await client.callTool({ name, arguments: args });
  if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.content)}`);
  if (!result.structuredContent) throw new Error(`${name}: no structuredContent`);
}
await client.close();
if (printed.length > 0) {
  throw new Error(`the SDK printed while listing and calling:\n${printed.join("\n")}`);
}
console.log(`TypeScript SDK: ${tools.length} tools listed, ${calls.length} calls validated, nothing printed`);
