// Verifies what the server sends with the Standard Webhooks reference
// library (the npm package `standardwebhooks`, pinned in package-lock.json):
// the debug binary on a free port and a fresh SQLite database, a receiver
// here on 127.0.0.1, two events (an article published, a follow). Each
// delivery must verify with the webhook's secret and parse to the body the
// contract describes; the same delivery with its body changed by a byte, or
// under another secret, must not.
//
// Usage: node verify.mjs [path/to/conduit-gateway]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';

const here = dirname(fileURLToPath(import.meta.url));
const binary = resolve(process.argv[2] ?? join(here, '../../target/debug/conduit-gateway'));

async function freePort() {
  return await new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

async function waitFor(what, check, child) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within 60 s`);
}

// The receiver: records every request and answers 204.
const received = [];
const receiver = createHttpServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    received.push({ headers: req.headers, body });
    res.writeHead(204).end();
  });
});
await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;

const dir = mkdtempSync(join(tmpdir(), 'conduit-webhooks-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = spawn(
  binary,
  [
    'serve',
    '--listen', `127.0.0.1:${port}`,
    '--database-url', `sqlite://${join(dir, 'w.db')}?mode=rwc`,
    '--webhook-allow-private-networks',
    '--worker-poll-ms', '50',
  ],
  { stdio: ['ignore', 'ignore', process.env.TEST_LOG ? 'inherit' : 'ignore'] },
);

async function gql(token, query, variables = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const answer = await res.json();
  if (answer.errors) throw new Error(JSON.stringify(answer.errors));
  return answer.data;
}

async function signUp(username) {
  const data = await gql(
    null,
    'mutation($i: SignUpInput!) { signUp(input: $i) { token } }',
    { i: { username, email: `${username}@example.com`, password: `password-${username}` } },
  );
  return data.signUp.token;
}

let failed = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed += 1;
}

try {
  await waitFor('the server is healthy', async () => {
    try {
      return (await fetch(`${base}/healthz`)).ok;
    } catch {
      return false;
    }
  }, child);
  const jane = await signUp('jane');
  const bob = await signUp('bob');
  const created = await gql(
    jane,
    'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret } }',
    { i: { url: hookUrl, events: ['ARTICLE_PUBLISHED', 'USER_FOLLOWED'] } },
  );
  const secret = created.createWebhook.secret;
  await gql(jane, 'mutation { createArticle(input: { title: "Verified", description: "d", body: "b" }) { id } }');
  await gql(bob, 'mutation { followUser(username: "jane") { id } }');
  await waitFor('two deliveries arrive', async () => received.length >= 2, child);

  const webhook = new Webhook(secret);
  const other = new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`);
  const types = [];
  for (const { headers, body } of received) {
    let payload = null;
    try {
      payload = webhook.verify(body, headers);
    } catch (error) {
      check(false, `standardwebhooks verifies ${headers['webhook-id']}: ${error.message}`);
      continue;
    }
    check(true, `standardwebhooks verifies ${headers['webhook-id']} (${payload.type})`);
    types.push(payload.type);
    check(
      typeof payload.timestamp === 'string' && !Number.isNaN(Date.parse(payload.timestamp)),
      `${payload.type}: timestamp is RFC 3339`,
    );
    check(headers['content-type'] === 'application/json', `${payload.type}: content-type application/json`);
    let refused = false;
    try {
      webhook.verify(`${body} `, headers);
    } catch {
      refused = true;
    }
    check(refused, `${payload.type}: a changed body does not verify`);
    refused = false;
    try {
      other.verify(body, headers);
    } catch {
      refused = true;
    }
    check(refused, `${payload.type}: another secret does not verify`);
  }
  types.sort();
  check(
    JSON.stringify(types) === JSON.stringify(['article.published', 'user.followed']),
    `the events: ${types.join(', ')}`,
  );
} catch (error) {
  check(false, error.message);
} finally {
  child.kill('SIGTERM');
  receiver.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed === 0 ? 0 : 1);
