"""Drives the real lunatask-mcp binary with the official MCP Python SDK, over stdio and over
Streamable HTTP, against the fake LunaTask API. Usage:

    python tests/interop/python_client.py HOST_BINARY FAKE_API_BINARY

Prints one line per check and a closing "N passed, N failed" line; exits non-zero on failure.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

from checks import check, summary
from mcp import Client, MCPError, StdioServerParameters

TOKEN = "lt-test-token-9f3a1c7e5b2d"
AREA = "aaaaaaaa-0000-4000-8000-000000000001"
TOOLS = {
    "ping", "create_task", "update_task", "delete_task", "get_task", "list_tasks",
    "create_note", "update_note", "delete_note", "create_journal_entry", "create_person",
    "delete_person", "get_person", "list_people", "create_person_timeline_note", "track_habit",
}

def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def exercise(client, transport):
    tools = await client.list_tools()
    names = {t.name for t in tools.tools}
    check(f"{transport}: lists every tool", TOOLS <= names, sorted(TOOLS - names))
    check(f"{transport}: every tool has an output schema",
          all(t.output_schema for t in tools.tools))

    pong = await client.call_tool("ping", {})
    check(f"{transport}: ping", not pong.is_error and pong.structured_content == {"ok": True, "message": "pong"},
          pong)

    created = await client.call_tool("create_task", {"area_id": AREA, "name": "from python", "priority": 1})
    ok = not created.is_error and created.structured_content["outcome"] == "created"
    check(f"{transport}: create_task", ok, created)
    task_id = created.structured_content["task"]["id"] if ok else None
    check(f"{transport}: correlation id in _meta",
          bool(created.meta and created.meta.get("correlationId")), created.meta)

    got = await client.call_tool("get_task", {"task_id": task_id})
    check(f"{transport}: get_task", not got.is_error and got.structured_content["task"]["priority"] == 1, got)

    listed = await client.call_tool("list_tasks", {"area_id": AREA, "status": "open"})
    ids = [t["id"] for t in listed.structured_content["tasks"]] if not listed.is_error else []
    check(f"{transport}: list_tasks", task_id in ids, listed)

    # The SDK checks structuredContent against each tool's outputSchema and raises on a
    # misfit: the journal's answers (a create's changes carry no "before") once failed it.
    updated = await client.call_tool("update_task", {"task_id": task_id, "priority": 2})
    check(f"{transport}: update_task", not updated.is_error, updated)
    try:
        actions = await client.call_tool("list_actions", {})
        entries = actions.structured_content["actions"]
        check(f"{transport}: list_actions passes the SDK's schema check",
              not actions.is_error and len(entries) >= 2
              and any("before" not in c for e in entries for c in e["changes"]), actions)
        undone = await client.call_tool("undo", {"action_id": entries[0]["id"]})
        check(f"{transport}: undo", not undone.is_error and undone.structured_content["undone"] == 1,
              undone)
    except Exception as e:  # the SDK's refusal of an answer
        check(f"{transport}: list_actions passes the SDK's schema check", False, repr(e))

    invalid = await client.call_tool("create_task", {"area_id": AREA, "priority": 7})
    error = json.loads(text_of(invalid)).get("error", {}) if invalid.is_error else {}
    check(f"{transport}: invalid input is a validation_error",
          invalid.is_error and error.get("code") == "validation_error" and error.get("field") == "priority",
          invalid)

    missing = await client.call_tool("get_task", {"task_id": "99999999-9999-4999-8999-999999999999"})
    check(f"{transport}: not_found", missing.is_error and "not_found" in text_of(missing), missing)

    try:
        await client.call_tool("no_such_tool", {})
        check(f"{transport}: unknown tool is a protocol error", False, "no error raised")
    except MCPError:
        check(f"{transport}: unknown tool is a protocol error", True)

    templates = await client.list_resource_templates()
    uris = {t.uri_template for t in templates.resource_templates}
    check(f"{transport}: resource templates", "lunatask://tasks/{task_id}" in uris, uris)
    resource = await client.read_resource(f"lunatask://tasks/{task_id}")
    body = json.loads(resource.contents[0].text)
    check(f"{transport}: read a task resource", body["task"]["id"] == task_id, body)
    view = await client.read_resource(f"lunatask://area/{AREA}/high-priority")
    check(f"{transport}: read a view", task_id in [t["id"] for t in json.loads(view.contents[0].text)["tasks"]])


async def main(host, fake_bin):
    fake = subprocess.Popen([fake_bin, TOKEN], stdout=subprocess.PIPE, text=True)
    try:
        base_url = fake.stdout.readline().strip()
        cache = tempfile.mkdtemp(prefix="lunatask-interop-")
        env = {
            "LUNATASK_API_TOKEN": TOKEN,
            "LUNATASK_BASE_URL": base_url,
            "LUNATASK_CACHE_DIR": cache,
            "PATH": os.environ.get("PATH", ""),
        }

        async with Client(StdioServerParameters(command=host, args=[], env=env)) as client:
            await exercise(client, "stdio")

        server = subprocess.Popen([host, "--http", "127.0.0.1:0"], env=env, stderr=subprocess.PIPE, text=True)
        try:
            url = None
            for line in server.stderr:
                match = re.search(r"listening on (http://\S+)", line)
                if match:
                    url = match.group(1)
                    break
            check("http: address announced", url is not None)
            # Keep draining stderr so the server never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
            async with Client(url) as client:
                await exercise(client, "http")
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        fake.kill()
    return summary("interop")


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
