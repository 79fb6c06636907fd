// Runs the GraphQL-over-HTTP audit suite (`serverAudits` of the pinned
// graphql-http package) against the real server: the debug binary, on a
// free port, with a fresh SQLite database. Prints every audit with its
// result and fails when a MUST or a SHOULD audit is not ok (a MAY audit is
// printed, not enforced).
//
// Usage: node audit.mjs [path/to/conduit-gateway]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverAudits } from 'graphql-http';

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

async function waitUntilHealthy(base, child) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the server did not become healthy within 60 s');
}

const dir = mkdtempSync(join(tmpdir(), 'conduit-http-audit-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = spawn(
  binary,
  [
    'serve',
    '--listen', `127.0.0.1:${port}`,
    '--database-url', `sqlite://${join(dir, 'a.db')}?mode=rwc`,
    '--no-worker',
  ],
  { stdio: ['ignore', 'ignore', process.env.TEST_LOG ? 'inherit' : 'ignore'] },
);

let failed = 0;
try {
  await waitUntilHealthy(base, child);
  const audits = serverAudits({ url: `${base}/graphql` });
  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  for (const { id, name, fn } of audits) {
    let result;
    try {
      result = await fn();
    } catch (fatal) {
      // Not an assertion: the request itself failed (a reset connection).
      result = { status: 'error', reason: `the request failed: ${fatal.cause ?? fatal}` };
    }
    counts[result.status] += 1;
    const level = name.split(' ')[0];
    const enforced = level === 'MUST' || level === 'SHOULD';
    const bad = result.status !== 'ok' && enforced;
    if (bad) failed += 1;
    let line = `${result.status.padEnd(5)} ${id} ${name}`;
    if (result.status !== 'ok') {
      const response = result.response;
      const detail = response
        ? ` (${response.status} ${response.headers.get('content-type') ?? ''}: ${(await response.text().catch(() => '')).slice(0, 200)})`
        : '';
      line += `\n      ${result.reason}${detail}`;
      if (!enforced) line += ' [MAY: not enforced]';
    }
    console.log(line);
  }
  console.log(
    `\n${audits.length} audits: ${counts.ok} ok, ${counts.notice} notice (MAY), ` +
      `${counts.warn} warn (SHOULD), ${counts.error} error (MUST); ` +
      `${failed} MUST or SHOULD audits not ok`,
  );
  console.log(`http-audit: ${counts.ok} passed, ${failed} failed`);
} catch (error) {
  console.error(`http-audit: ${error.stack ?? error}`);
  failed += 1;
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed === 0 ? 0 : 1);
