// The consent page in a real browser: Debian's Chromium, headless, driven by playwright-core,
// with JavaScript turned off (the page must not need it). A client registers, the browser opens
// the authorization URL, a screenshot is checked to show the form, a wrong token is refused on
// the page, the right one sends the browser on to the client's own callback (which the page's
// Content-Security-Policy must allow), and the code it brings is exchanged for a token that
// /mcp accepts.
//   usage: node consent_browser.mjs HOST_BINARY FAKE_URL TOKEN SCREENSHOT_DIR
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { chromium } from "playwright-core";

const [host, fakeUrl, token, shots] = process.argv.slice(2);
let passed = 0;
let failed = 0;
function check(name, ok, detail = "") {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name} ${detail}`);
  }
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
}

async function freePort() {
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

// The client's own callback: records what the browser brings to /callback. Only that path:
// after the page loads, Chromium asks the same origin for /favicon.ico, and recording every
// request let that later one replace the callback (CI failed on it once).
let callback = null;
const client = createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname !== "/callback") {
    res.writeHead(404).end();
    return;
  }
  callback = url;
  res.writeHead(200, { "content-type": "text/html" });
  res.end("<h1>Signed in</h1>");
});
const callbackPort = await listen(client);
const redirectUri = `http://127.0.0.1:${callbackPort}/callback`;

const port = await freePort();
const issuer = `http://127.0.0.1:${port}`;
const server = spawn(host, ["--http", `127.0.0.1:${port}`], {
  env: {
    PATH: process.env.PATH,
    LUNATASK_BASE_URL: fakeUrl,
    LUNATASK_CACHE_DIR: process.env.LUNATASK_CACHE_DIR,
    LUNATASK_MCP_MULTI_USER: "true",
    LUNATASK_MCP_OAUTH: "true",
    LUNATASK_MCP_PUBLIC_URL: issuer,
  },
  stdio: ["ignore", "ignore", "pipe"],
});
let log = "";
await new Promise((resolve, reject) => {
  server.stderr.on("data", (chunk) => {
    log += chunk;
    if (log.includes("listening on")) resolve();
  });
  server.on("exit", () => reject(new Error(`the server exited: ${log}`)));
});

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

/** How much of `box` in the PNG `shot` is drawn (not page background): decoded in a canvas. */
async function inked(shot, box) {
  const page = await (await browser.newContext()).newPage();
  const share = await page.evaluate(
    async ({ data, box }) => {
      const image = new Image();
      image.src = `data:image/png;base64,${data}`;
      await image.decode();
      const canvas = document.createElement("canvas");
      canvas.width = image.width;
      canvas.height = image.height;
      const context = canvas.getContext("2d");
      context.drawImage(image, 0, 0);
      const pixels = context.getImageData(box.x, box.y, box.width, box.height).data;
      let drawn = 0;
      for (let i = 0; i < pixels.length; i += 4) {
        if (pixels[i] < 200 || pixels[i + 1] < 200 || pixels[i + 2] < 200) drawn++;
      }
      return drawn / (pixels.length / 4);
    },
    { data: shot.toString("base64"), box },
  );
  await page.close();
  return share;
}

try {
  const registered = await fetch(`${issuer}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "Browser Test Client", redirect_uris: [redirectUri] }),
  }).then((r) => r.json());
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const authorize = new URL(`${issuer}/authorize`);
  for (const [name, value] of Object.entries({
    response_type: "code",
    client_id: registered.client_id,
    redirect_uri: redirectUri,
    state: "browser-state",
    code_challenge: challenge,
    code_challenge_method: "S256",
    scope: "lunatask:read lunatask:write",
  })) {
    authorize.searchParams.set(name, value);
  }

  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  const shown = await page.goto(authorize.href);
  check("the page loads", shown.status() === 200, shown.status());
  const password = page.locator('input[type="password"]');
  check("the password field is visible", await password.isVisible());
  check("the page names the client", (await page.textContent("h1")).includes("Browser Test Client"));
  const shot = await page.screenshot();
  writeFileSync(`${shots}/consent.png`, shot);
  const form = await page.locator("form").boundingBox();
  const field = await password.boundingBox();
  const formInk = await inked(shot, form);
  const fieldInk = await inked(shot, field);
  // Text, a bordered field and buttons are drawn in the form's box; the field itself is mostly
  // empty inside its border.
  check("the screenshot shows the form", form.height > 150 && formInk > 0.02 && formInk < 0.6, formInk);
  check("the screenshot shows an empty field", fieldInk > 0 && fieldInk < 0.3, fieldInk);

  await password.fill("lt-not-this-persons-token-0000");
  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForLoadState();
  const alert = page.getByRole("alert");
  check("a wrong token: the form again, with the reason",
    (await alert.isVisible()) && (await alert.textContent()).includes("did not accept"));
  writeFileSync(`${shots}/consent-wrong-token.png`, await page.screenshot());
  check("a wrong token: still on this server", page.url().startsWith(issuer), page.url());

  await page.locator('input[type="password"]').fill(token);
  await Promise.all([page.waitForURL(`${redirectUri}**`), page.getByRole("button", { name: "Allow" }).click()]);
  check("the right token: the browser is at the client's callback", callback !== null);
  check("the callback has the code, the state and the issuer",
    callback?.searchParams.get("code") && callback.searchParams.get("state") === "browser-state"
      && callback.searchParams.get("iss") === issuer, callback?.href);

  const exchanged = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: callback.searchParams.get("code"),
      redirect_uri: redirectUri,
      client_id: registered.client_id,
      code_verifier: verifier,
    }),
  });
  const tokens = await exchanged.json();
  check("the code is exchanged for tokens", exchanged.status === 200 && tokens.access_token, JSON.stringify(tokens));
  const mcp = await fetch(`${issuer}/mcp`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${tokens.access_token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({
      jsonrpc: "2.0", id: 1, method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "browser", version: "1" } },
    }),
  });
  check("/mcp accepts the issued token", mcp.status === 200, mcp.status);
  check("no token in the server's log", !log.includes(token) && !log.includes(tokens.access_token));
} finally {
  await browser.close();
  server.kill();
  client.close();
}
console.log(`consent page in Chromium: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
