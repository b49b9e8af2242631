"""Signs in to the real lunatask-mcp binary (multi-user, --oauth) with the official MCP Python
SDK's OAuth client, `mcp.client.auth.OAuthClientProvider`: discovery from the 401, dynamic
registration, the consent form submitted as a person's browser would (the form read from the
page, a wrong token first, then the right one), PKCE, the token exchange, and a refresh once
the access token has expired. The fake API accepts only Alice's token, so every call that
works proves it carried hers. Usage:

    python tests/interop/python_oauth.py HOST_BINARY FAKE_API_BINARY

Prints one line per check and a closing "N passed, N failed" line; exits non-zero on failure.
"""

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlparse

import httpx2
from checks import check, summary
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

ALICE = "lt-alice-oauth-token-7c1e9b"
AREA = "aaaaaaaa-0000-4000-8000-000000000001"
REDIRECT = "http://127.0.0.1:9/callback"
ACCESS_TTL = 2

class Form(HTMLParser):
    """The consent page's form: its action, its fields and their values, as a browser reads them."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.fields = {}
        self.password = None
        self.problem = ""
        self._in_problem = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs.get("action")
        elif tag == "input":
            kind = attrs.get("type", "text")
            if kind == "password":
                self.password = attrs["name"]
            elif kind == "hidden" or (kind == "checkbox" and "checked" in attrs):
                self.fields[attrs["name"]] = attrs.get("value", "on")
        elif tag == "p" and "problem" in (attrs.get("class") or ""):
            self._in_problem = True

    def handle_endtag(self, tag):
        if tag == "p":
            self._in_problem = False

    def handle_data(self, data):
        if self._in_problem:
            self.problem += data


class Memory:
    """The SDK's TokenStorage, in memory."""

    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Person:
    """Opens the authorization URL, reads the form, types a token and presses Allow."""

    def __init__(self):
        self.redirected_to = None
        self.tokens_typed = []

    async def open(self, authorization_url):
        async with httpx2.AsyncClient(follow_redirects=False) as browser:
            page = await browser.get(authorization_url)
            check("consent page: 200 and no caching", page.status_code == 200
                  and page.headers.get("cache-control") == "no-store", page.status_code)
            answer = await self.submit(browser, page, "lt-not-alices-token-000")
            check("consent page: a wrong token shows the form again with the reason",
                  answer.status_code == 400 and "did not accept" in read_form(answer.text).problem,
                  answer.text[:300])
            answer = await self.submit(browser, answer, ALICE)
            check("consent page: the right token goes back to the client",
                  answer.status_code == 303, answer.status_code)
            self.redirected_to = answer.headers["location"]

    async def submit(self, browser, page, token):
        form = read_form(page.text)
        fields = dict(form.fields)
        fields[form.password] = token
        fields["decision"] = "allow"
        self.tokens_typed.append(token)
        action = str(page.url.join(form.action))
        return await browser.post(action, data=fields)

    async def callback(self):
        query = parse_qs(urlparse(self.redirected_to).query)
        check("redirect: back to the registered URI", self.redirected_to.startswith(REDIRECT))
        return AuthorizationCodeResult(
            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
        )


def read_form(html):
    form = Form()
    form.feed(html)
    return form


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def session(url, provider, name):
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return await name(client)


async def main(host, fake_bin):
    fake = subprocess.Popen([fake_bin, ALICE], stdout=subprocess.PIPE, text=True)
    server = None
    try:
        base_url = fake.stdout.readline().strip()
        port = free_port()
        public = f"http://127.0.0.1:{port}"
        env = {
            "LUNATASK_BASE_URL": base_url,
            "LUNATASK_CACHE_DIR": tempfile.mkdtemp(prefix="lunatask-oauth-"),
            "LUNATASK_MCP_MULTI_USER": "true",
            "LUNATASK_MCP_OAUTH": "true",
            "LUNATASK_MCP_PUBLIC_URL": public,
            "LUNATASK_MCP_OAUTH_ACCESS_TOKEN_TTL": str(ACCESS_TTL),
            "PATH": os.environ.get("PATH", ""),
        }
        server = subprocess.Popen([host, "--http", f"127.0.0.1:{port}"], env=env,
                                  stderr=subprocess.PIPE, text=True)
        log = []
        for line in server.stderr:
            log.append(line)
            if "listening on" in line:
                break
        threading.Thread(target=lambda: [log.append(l) for l in server.stderr], daemon=True).start()

        person = Person()
        storage = Memory()
        provider = OAuthClientProvider(
            server_url=f"{public}/mcp",
            client_metadata=OAuthClientMetadata(
                client_name="python-sdk interop",
                redirect_uris=[REDIRECT],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                scope="lunatask:read lunatask:write",
            ),
            storage=storage,
            redirect_handler=person.open,
            callback_handler=person.callback,
        )

        async def create_and_list(client):
            created = await client.call_tool("create_task", {"area_id": AREA, "name": "via oauth"})
            listed = await client.call_tool("list_tasks", {})
            return created, listed

        created, listed = await session(f"{public}/mcp", provider, create_and_list)
        check("signed in: create_task reached Alice's account", not created.is_error, created)
        check("signed in: list_tasks shows it", not listed.is_error
              and len(listed.structured_content["tasks"]) == 1, listed)
        first = storage.tokens
        check("tokens: issued with both scopes and a refresh token",
              first is not None and first.scope == "lunatask:read lunatask:write" and first.refresh_token)
        check("tokens: the LunaTask token is not in them",
              ALICE not in first.access_token and ALICE not in first.refresh_token)

        time.sleep(ACCESS_TTL + 1)

        async def ping(client):
            return await client.call_tool("ping", {})

        pong = await session(f"{public}/mcp", provider, ping)
        check("after expiry: the SDK refreshed and the call worked", not pong.is_error, pong)
        check("after expiry: new tokens (rotated refresh token)",
              storage.tokens.access_token != first.access_token
              and storage.tokens.refresh_token != first.refresh_token)

        stderr = "".join(log)
        check("no token in the server's log",
              all(t not in stderr for t in [ALICE, first.access_token, first.refresh_token]))
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
        fake.kill()
    return summary("oauth interop")


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
