// GraphiQL in a real headless Chromium (Debian's /usr/bin/chromium), against
// the server binary on a fresh SQLite database, with every request that
// leaves the server's origin blocked and recorded. It renders the editor,
// runs the default query, types and runs a sign-up, puts the token in the
// Headers tab, types and runs a query as that user, runs a subscription
// that receives an article published meanwhile, and opens a dialog and the
// docs. It fails on any blocked request, CSP violation, console error or
// page error. Screenshots go to target/browser/.
//
// Environment: CONDUIT_GATEWAY_BIN (default target/debug/conduit-gateway),
// CHROMIUM (default /usr/bin/chromium), CARGO_TARGET_DIR.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import test from 'node:test';

import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const targetDir = resolve(root, process.env.CARGO_TARGET_DIR ?? 'target');
const binary = process.env.CONDUIT_GATEWAY_BIN ?? join(targetDir, 'debug', 'conduit-gateway');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const artifacts = join(targetDir, 'browser');

const QUERY_EDITOR = '.graphiql-query-editor .CodeMirror';
const HEADERS_EDITOR = 'section.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden) .CodeMirror';
const RESULT = '.graphiql-response .CodeMirror';

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

async function waitForHealth(origin, server) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the server exited with ${server.exitCode}`);
    try {
      const response = await fetch(`${origin}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new Error(`${origin}/healthz did not answer within 60 s`);
}

/// Starts the real server on a free port with a database of its own.
async function startServer(dataDir) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const log = createWriteStream(join(artifacts, 'server.log'));
  const server = spawn(
    binary,
    [
      'serve',
      '--listen', `127.0.0.1:${port}`,
      '--database-url', `sqlite://${join(dataDir, 'browser.db')}?mode=rwc`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' } },
  );
  server.stdout.pipe(log);
  server.stderr.pipe(log);
  await waitForHealth(origin, server);
  return { origin, server };
}

/// A GraphQL request from outside the browser, as another client would.
async function gql(origin, query, variables, token) {
  const response = await fetch(`${origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body));
  return body.data;
}

function editorValue(page, selector) {
  return page.evaluate((selector) => document.querySelector(selector).CodeMirror.getValue(), selector);
}

/// Replaces an editor's text by typing, key by key, as a person would.
async function typeInto(page, selector, text) {
  await page.locator(selector).click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(text, { delay: 5 });
  // The completion popup, if it is open, would swallow the next keys.
  await page.keyboard.press('Escape');
  const typed = await editorValue(page, selector);
  assert.equal(typed, text, 'the editor holds what was typed');
  // GraphiQL parses the query a moment after the last key (debounced); run
  // before that, it would run the previous query's operation type (a
  // subscription would go over HTTP).
  await page.waitForTimeout(500);
}

/// Clicks the run button and waits for a new result that contains `expected`.
async function run(page, expected = '"data"') {
  const before = await editorValue(page, RESULT);
  await page.locator('.graphiql-execute-button').click();
  await page
    .waitForFunction(
      ([selector, before, expected]) => {
        const text = document.querySelector(selector).CodeMirror.getValue();
        return text !== before && (text.includes(expected) || text.includes('"errors"'));
      },
      [RESULT, before, expected],
      { timeout: 20_000 },
    )
    .catch(async (error) => {
      throw new Error(`no result: ${error.message}\nresult pane: ${await editorValue(page, RESULT)}`);
    });
  return editorValue(page, RESULT);
}

/// One step of the scenario, logged; the first that fails ends it.
async function step(name, body) {
  const started = Date.now();
  await body();
  console.log(`  ok: ${name} (${Date.now() - started} ms)`);
}

/// The result pane's text as the page renders it (what a person sees).
function renderedResult(page) {
  return page.locator('.graphiql-response .result-window').innerText();
}

test('GraphiQL runs from the server alone, under its CSP', { timeout: 180_000 }, async () => {
  mkdirSync(artifacts, { recursive: true });
  for (const name of ['graphiql.png', 'graphiql-subscription.png', 'graphiql-failure.png']) {
    rmSync(join(artifacts, name), { force: true });
  }
  assert.ok(existsSync(binary), `${binary} is missing: run cargo build first`);
  const dataDir = mkdtempSync(join(tmpdir(), 'conduit-browser-'));
  const profileDir = mkdtempSync(join(tmpdir(), 'conduit-chromium-'));
  const { origin, server } = await startServer(dataDir);
  let context;
  try {
    context = await launch(profileDir);
    await scenario(context, origin);
  } finally {
    // The browser first (it holds its profile open), then the server.
    await context?.close();
    const exited = server.exitCode === null ? once(server, 'exit') : Promise.resolve();
    server.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(profileDir, { recursive: true, force: true });
  }
});

function launch(profileDir) {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Belt and braces beside the routing in scenario(): no host name but the
      // loopback address resolves, so nothing (a WebSocket included) could
      // reach another machine even if it slipped past the route.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
    viewport: { width: 1400, height: 900 },
  });
}

async function scenario(context, origin) {
  const host = new URL(origin).host;

  // Every request that leaves the server's origin is blocked and recorded.
  const blocked = [];
  const requests = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    requests.push(url);
    if (new URL(url).origin === origin) return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
  const sockets = [];
  const problems = [];
  // The page's own report of each CSP violation, from its first script on.
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__cspViolations.push(`${event.effectiveDirective} refused ${event.blockedURI || '(inline)'} at ${event.sourceFile}:${event.lineNumber}`);
    });
  });

  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error' || /Content.Security.Policy/i.test(message.text())) {
      problems.push(`console ${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  // Each WebSocket's URL and the frames the page sent on it, from its start.
  const sent = [];
  page.on('websocket', (socket) => {
    sockets.push(socket.url());
    socket.on('framesent', (frame) => sent.push(String(frame.payload)));
  });

  try {
    await step('the page comes with a same-origin CSP', async () => {
      const response = await page.goto(`${origin}/`);
      assert.equal(response.status(), 200);
      const headers = response.headers();
      assert.match(headers['content-type'], /^text\/html/);
      const policy = headers['content-security-policy'];
      assert.ok(policy, 'a Content-Security-Policy header');
      const directives = Object.fromEntries(
        policy.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values]),
      );
      assert.deepEqual(directives['default-src'], ["'self'"]);
      assert.deepEqual(directives['script-src'], ["'self'"]);
      assert.deepEqual(directives['connect-src'], ["'self'"]);
      assert.equal(directives['style-src'][0], "'self'");
      assert.match(directives['style-src'][1], /^'nonce-[A-Za-z0-9+/=]{16,}'$/);
      assert.equal(directives['style-src'].length, 2);
      assert.deepEqual(directives['object-src'], ["'none'"]);
      assert.deepEqual(directives['frame-ancestors'], ["'none'"]);
      assert.doesNotMatch(policy, /unsafe|https?:|\*/);
    });

    await step('the editor renders with the default query and the Authorization header', async () => {
      await page.locator(QUERY_EDITOR).waitFor({ state: 'visible', timeout: 30_000 });
      assert.match(await editorValue(page, QUERY_EDITOR), /popularTags/);
      await page.locator(HEADERS_EDITOR).waitFor({ state: 'visible' });
      assert.deepEqual(JSON.parse(await editorValue(page, HEADERS_EDITOR)), { Authorization: '' });
    });

    await step('the default query runs on the fresh database', async () => {
      const result = JSON.parse(await run(page));
      assert.equal(result.errors, undefined, JSON.stringify(result));
      assert.deepEqual(result.data.popularTags, []);
      assert.equal(result.data.articles.totalCount, 0);
      assert.match(await renderedResult(page), /"popularTags"/);
    });

    let token;
    await step('a typed sign-up runs and returns a token', async () => {
      await typeInto(
        page,
        QUERY_EDITOR,
        'mutation { signUp(input: { username: "browser", email: "browser@example.com", password: "correct horse battery" }) { token user { username } } }',
      );
      const result = JSON.parse(await run(page));
      assert.equal(result.errors, undefined, JSON.stringify(result));
      token = result.data.signUp.token;
      assert.ok(token, 'a token');
      assert.equal(result.data.signUp.user.username, 'browser');
    });

    await step('with the token in the Headers tab, a typed query runs as that user', async () => {
      await typeInto(page, HEADERS_EDITOR, `{ "Authorization": "Bearer ${token}" }`);
      await typeInto(page, QUERY_EDITOR, '{ viewer { username email } popularTags { name } }');
      const result = JSON.parse(await run(page, '"viewer"'));
      assert.equal(result.errors, undefined, JSON.stringify(result));
      assert.deepEqual(result.data.viewer, { username: 'browser', email: 'browser@example.com' });
      const shown = await renderedResult(page);
      assert.match(shown, /"viewer"/);
      assert.match(shown, /"username": "browser"/);
      assert.match(shown, /"popularTags"/);
      await page.screenshot({ path: join(artifacts, 'graphiql.png') });
    });

    await step('a subscription runs over the same origin WebSocket', async () => {
      await typeInto(page, QUERY_EDITOR, 'subscription { articlePublished { title author { username } } }');
      const opened = page.waitForEvent('websocket', { timeout: 10_000 });
      await page.locator('.graphiql-execute-button').click();
      const socket = await opened;
      assert.equal(socket.url(), `ws://${host}/graphql`);
      // Publish once the server has the subscription, from another client.
      const deadline = Date.now() + 10_000;
      while (!sent.some((payload) => payload.includes('"subscribe"'))) {
        assert.ok(Date.now() < deadline, `no subscribe message; sent: ${JSON.stringify(sent)}`);
        await page.waitForTimeout(50);
      }
      await page.waitForTimeout(300);
      await gql(
        origin,
        'mutation($input: CreateArticleInput!) { createArticle(input: $input) { slug } }',
        { input: { title: 'Seen live', description: 'd', body: 'b', tags: ['live'] } },
        token,
      );
      await page.waitForFunction(
        (selector) => document.querySelector(selector).CodeMirror.getValue().includes('Seen live'),
        RESULT,
        { timeout: 15_000 },
      );
      const result = JSON.parse(await editorValue(page, RESULT));
      assert.deepEqual(result.data.articlePublished, { title: 'Seen live', author: { username: 'browser' } });
      await page.screenshot({ path: join(artifacts, 'graphiql-subscription.png') });
      // Stop it.
      await page.locator('.graphiql-execute-button').click();
    });

    await step('a dialog and the docs open within the policy', async () => {
      await page.locator('[aria-label="Open settings dialog"]').click();
      await page.locator('[role="dialog"]').waitFor({ state: 'visible' });
      // The dialog locked the page's scroll with a <style> of its own; it
      // carries the response's nonce (the browser hides its value from the
      // attribute, not from the property).
      const styles = await page.evaluate(() => [...document.querySelectorAll('style')].map((s) => s.nonce));
      assert.ok(styles.length > 0, 'the dialog added a <style>');
      for (const nonce of styles) assert.notEqual(nonce, '', 'every <style> has the nonce');
      await page.keyboard.press('Escape');
      await page.locator('[role="dialog"]').waitFor({ state: 'hidden' });
      await page.locator('[aria-label="Show Documentation Explorer"]').click();
      await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().waitFor();
    });

    await step('nothing left the origin and nothing broke the policy', async () => {
      const violations = await page.evaluate(() => window.__cspViolations);
      assert.deepEqual(blocked, [], 'requests to other origins');
      assert.deepEqual(violations, [], 'CSP violations');
      assert.deepEqual(problems, [], 'console errors and page errors');
      assert.ok(requests.length > 0);
      for (const url of requests) assert.equal(new URL(url).origin, origin, url);
      for (const url of sockets) assert.equal(url, `ws://${host}/graphql`);
      console.log(`${requests.length} requests and ${sockets.length} WebSocket(s), all to ${origin}`);
    });
  } catch (error) {
    await page.screenshot({ path: join(artifacts, 'graphiql-failure.png') }).catch(() => {});
    throw error;
  }
}
