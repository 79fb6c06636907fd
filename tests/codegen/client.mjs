// The app's documents, as graphql-codegen's client preset persisted them
// (generated/persisted-documents.json, written by `run` just before), run
// through Apollo Client against the real server in `--trusted-documents
// only` mode:
//
// 1. `conduit-gateway documents add` stores codegen's manifest, unchanged,
//    in a fresh SQLite database;
// 2. the server starts on that database with `--trusted-documents only`;
// 3. Apollo Client, with `@apollo/persisted-query-lists`' ids from that
//    manifest in a `PersistedQueryLink` that never falls back to the text,
//    signs up, reads the viewer, creates an article, reads it by slug and
//    reads the home page, over POST and (Apollo's `useGETForHashedQueries`)
//    GET: every request carries only `extensions.persistedQuery.sha256Hash`
//    (the bare hex over POST, codegen's "sha256:<hex>" over GET);
// 4. an operation that is not in the manifest is refused with
//    PERSISTED_QUERY_NOT_IN_LIST, by hash and as text, and counted in
//    /metrics under the client's name.
//
// Usage: node client.mjs [path/to/conduit-gateway]  (TEST_LOG=1 shows the
// server's log)

import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  ApolloClient,
  ApolloLink,
  CombinedGraphQLErrors,
  HttpLink,
  InMemoryCache,
  gql,
} from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { generatePersistedQueryIdsFromManifest } from '@apollo/persisted-query-lists';
import { parse } from 'graphql';

const here = dirname(fileURLToPath(import.meta.url));
const binary = resolve(process.argv[2] ?? join(here, '../../target/debug/conduit-gateway'));
const manifestPath = join(here, 'generated/persisted-documents.json');
const CLIENT_NAME = 'codegen-test';

// ---------------------------------------------------------------- helpers

let checks = 0;
function check(condition, what, detail) {
  if (!condition) {
    const extra = detail === undefined ? '' : `\n    got: ${JSON.stringify(detail)}`;
    throw new Error(`${what}${extra}`);
  }
  checks += 1;
  console.log(`ok    ${what}`);
}

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
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the server did not become healthy within 30 s');
}

/** The single operation of a document: its name and type. */
function operationOf(document) {
  const operations = document.definitions.filter((d) => d.kind === 'OperationDefinition');
  if (operations.length !== 1 || !operations[0].name) {
    throw new Error('each document must hold exactly one named operation');
  }
  return { name: operations[0].name.value, type: operations[0].operation };
}

const hex = (id) => id.replace(/^sha256:/, '');

// ---------------------------------------------------------------- codegen's manifest

// {"sha256:<hex>": "<document>"}: keyed by id, so the operation names
// (which `generatePersistedQueryIdsFromManifest` looks ids up by) come
// from parsing each document.
const codegenManifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
const manifestEntries = Object.entries(codegenManifest);
check(manifestEntries.length >= 4, `codegen wrote ${manifestEntries.length} persisted documents`);
for (const [id, body] of manifestEntries) {
  check(
    /^sha256:[0-9a-f]{64}$/.test(id) && createHash('sha256').update(body).digest('hex') === hex(id),
    `codegen's key ${id.slice(0, 19)}… is "sha256:" and the SHA-256 of its text`,
  );
}
const idsByName = new Map(
  manifestEntries.map(([id, body]) => [operationOf(parse(body)).name, id]),
);

// The documents the client runs: the same .graphql files codegen read
// (its generated/*.ts, which embed the same ids as `__meta__.hash`, would
// need a TypeScript loader, and Node 20 has none).
const documents = Object.fromEntries(
  readdirSync(join(here, 'documents'))
    .filter((file) => file.endsWith('.graphql'))
    .map((file) => {
      const document = gql(readFileSync(join(here, 'documents', file), 'utf8'));
      return [operationOf(document).name, document];
    }),
);
for (const name of Object.keys(documents)) {
  check(idsByName.has(name), `operation ${name} is in codegen's manifest`);
}

// ---------------------------------------------------------------- store it, start the server

const dir = mkdtempSync(join(tmpdir(), 'conduit-codegen-'));
const databaseUrl = `sqlite://${join(dir, 'x.db')}?mode=rwc`;
const logPath = join(dir, 'server.log');
let child;
let serverLog = '';

/** Every request Apollo Client made: method, URL and body. */
const sent = [];
const recordingFetch = async (url, init) => {
  sent.push({ method: init?.method ?? 'GET', url: String(url), body: init?.body ?? null });
  return await fetch(url, init);
};

try {
  const { stdout: added } = await promisify(execFile)(
    binary,
    ['documents', 'add', manifestPath],
    { env: { ...process.env, DATABASE_URL: databaseUrl } },
  );
  check(
    added.includes(`${manifestEntries.length} added`),
    `conduit-gateway documents add stored codegen's manifest: ${added.trim()}`,
  );

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  child = spawn(
    binary,
    [
      'serve',
      '--listen', `127.0.0.1:${port}`,
      '--database-url', databaseUrl,
      '--trusted-documents', 'only',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr.on('data', (chunk) => {
    serverLog += chunk;
    if (process.env.TEST_LOG) process.stderr.write(chunk);
  });
  await waitUntilHealthy(base, child);

  // ---------------------------------------------------------------- Apollo Client

  // Ids from the manifest, by operation name; never the text: `retry`
  // false keeps PersistedQueryLink from sending the document after an
  // error, `disable` false from turning itself off.
  const byManifest = generatePersistedQueryIdsFromManifest({
    loadManifest: () => ({
      // Apollo's `sha256Hash` is the bare hex; the server takes either.
      operations: [...idsByName].map(([name, id]) => ({ name, id: hex(id) })),
    }),
  });
  const makeClient = ({ persisted, useGET = false }) =>
    new ApolloClient({
      cache: new InMemoryCache(),
      link: ApolloLink.from([
        new PersistedQueryLink({
          ...persisted,
          useGETForHashedQueries: useGET,
          retry: () => false,
          disable: () => false,
        }),
        new HttpLink({
          uri: `${base}/graphql`,
          fetch: recordingFetch,
          headers: { 'apollographql-client-name': CLIENT_NAME },
        }),
      ]),
      defaultOptions: { query: { fetchPolicy: 'network-only' } },
    });
  const client = makeClient({ persisted: byManifest });
  // The manifest's id verbatim ("sha256:<hex>", what codegen also embeds
  // in each generated document as `__meta__.hash`), by GET.
  const getClient = makeClient({
    persisted: { generateHash: (document) => idsByName.get(operationOf(document).name) },
    useGET: true,
  });
  const as = (token) => ({ headers: { authorization: `Bearer ${token}` } });

  /**
   * What `run` answered, checked to have made one request, by `method`,
   * with `hash` (the manifest's id for `name`, in the client's spelling)
   * and no text.
   */
  async function byIdOnly(name, method, run) {
    const hash = method === 'GET' ? idsByName.get(name) : hex(idsByName.get(name));
    const from = sent.length;
    let result;
    try {
      result = await run();
    } catch (error) {
      throw new Error(`${name} by ${method}: ${error.message}`);
    }
    const requests = sent.slice(from);
    check(requests.length === 1, `${name}: one request`, requests);
    const [request] = requests;
    let payload;
    if (request.method === 'GET') {
      const params = new URL(request.url).searchParams;
      payload = {
        query: params.get('query') ?? undefined,
        extensions: JSON.parse(params.get('extensions') ?? '{}'),
      };
    } else {
      payload = JSON.parse(request.body);
    }
    check(
      request.method === method &&
        payload.query === undefined &&
        payload.extensions?.persistedQuery?.sha256Hash === hash,
      `${name}: ${method} with sha256Hash ${hash.slice(0, 19)}… (the manifest's id) and no query text`,
      request,
    );
    return result;
  }

  const signUp = await byIdOnly('SignUp', 'POST', () =>
    client.mutate({
      mutation: documents.SignUp,
      variables: {
        input: { username: 'codegen', email: 'codegen@example.com', password: 'trusted-documents' },
      },
    }),
  );
  const token = signUp.data?.signUp?.token;
  check(
    typeof token === 'string' && signUp.data.signUp.user.username === 'codegen',
    'SignUp ran (mutation, variables) and answered a token',
    signUp,
  );

  const viewer = await byIdOnly('Viewer', 'POST', () =>
    client.query({ query: documents.Viewer, context: as(token) }),
  );
  check(
    viewer.data?.viewer?.username === 'codegen' && viewer.data.viewer.email === 'codegen@example.com',
    'Viewer ran with the token and answered the new user',
    viewer,
  );
  // The stored text asks for __typename (codegen's transform), so Apollo's
  // cache normalizes what it answers.
  const userKey = `User:${viewer.data.viewer.id}`;
  check(
    viewer.data.viewer.__typename === 'User' && client.cache.extract()[userKey]?.username === 'codegen',
    `Viewer's answer carries __typename: the cache holds ${userKey}`,
    client.cache.extract(),
  );
  const anonymous = await byIdOnly('Viewer', 'POST', () => client.query({ query: documents.Viewer }));
  check(anonymous.data?.viewer === null, 'Viewer without a token answered null', anonymous);

  const created = await byIdOnly('CreateArticle', 'POST', () =>
    client.mutate({
      mutation: documents.CreateArticle,
      variables: {
        input: {
          title: 'Codegen works with us',
          description: 'persisted documents from the client preset',
          body: 'Stored with documents add, asked for by id.',
          tags: ['codegen', 'trusted-documents'],
        },
      },
      context: as(token),
    }),
  );
  const slug = created.data?.createArticle?.slug;
  check(
    typeof slug === 'string' && created.data.createArticle.author.username === 'codegen',
    `CreateArticle ran and answered the slug ${slug}`,
    created,
  );

  for (const [c, method] of [[client, 'POST'], [getClient, 'GET']]) {
    const article = await byIdOnly('ArticleBySlug', method, () =>
      c.query({ query: documents.ArticleBySlug, variables: { slug } }),
    );
    check(
      article.data?.article?.title === 'Codegen works with us' &&
        article.data.article.author.username === 'codegen' &&
        article.data.article.comments.totalCount === 0,
      `ArticleBySlug by ${method} answered the new article`,
      article,
    );
    const articleKey = `Article:${article.data.article.id}`;
    check(
      c.cache.extract()[articleKey]?.slug === slug,
      `ArticleBySlug by ${method}: the cache holds ${articleKey}`,
      c.cache.extract(),
    );

    const home = await byIdOnly('Homepage', method, () =>
      c.query({ query: documents.Homepage, variables: { first: 5 }, context: as(token) }),
    );
    check(
      home.data?.articles?.edges?.[0]?.node?.slug === slug &&
        home.data.articles.totalCount >= 1 &&
        home.data.popularTags.some((tag) => tag.name === 'codegen' && tag.articlesCount >= 1),
      `Homepage by ${method} lists the new article and its tag`,
      home,
    );
  }

  // ---------------------------------------------------------------- not in the manifest

  // What another build of the client might ask: hashed the way Apollo's
  // automatic persisted queries hash (SHA-256 of the printed text).
  const userProfile = gql`
    query UserProfile($username: String!) {
      user(username: $username) {
        username
        bio
        followersCount
      }
    }
  `;
  const apq = makeClient({
    persisted: { sha256: (text) => createHash('sha256').update(text).digest('hex') },
  });
  const refusalsBefore = await refusals(base);
  const from = sent.length;
  const refusedByHash = await apq
    .query({ query: userProfile, variables: { username: 'codegen' } })
    .then((result) => result, (error) => error);
  check(
    CombinedGraphQLErrors.is(refusedByHash) &&
      refusedByHash.errors.some((e) => e.extensions?.code === 'PERSISTED_QUERY_NOT_IN_LIST'),
    'UserProfile (not in the manifest) by hash: PERSISTED_QUERY_NOT_IN_LIST',
    String(refusedByHash),
  );
  check(
    sent.length === from + 1 && !JSON.parse(sent[from].body).query,
    'the refused hash was not followed by the text',
    sent.slice(from),
  );

  // The same document as plain text (no persisted query link): refused too.
  const plain = new ApolloClient({
    cache: new InMemoryCache(),
    link: new HttpLink({
      uri: `${base}/graphql`,
      headers: { 'apollographql-client-name': CLIENT_NAME },
    }),
  });
  const refusedAsText = await plain
    .query({ query: userProfile, variables: { username: 'codegen' }, fetchPolicy: 'network-only' })
    .then((result) => result, (error) => error);
  check(
    CombinedGraphQLErrors.is(refusedAsText) &&
      refusedAsText.errors.some((e) => e.extensions?.code === 'PERSISTED_QUERY_NOT_IN_LIST'),
    'UserProfile as text: PERSISTED_QUERY_NOT_IN_LIST',
    String(refusedAsText),
  );
  const refusalsAfter = await refusals(base);
  check(
    refusalsAfter === refusalsBefore + 2,
    `/metrics counted both refusals for client "${CLIENT_NAME}" (${refusalsBefore} -> ${refusalsAfter})`,
  );

  console.log(`\n${checks} checks passed`);
} catch (error) {
  console.error(`\nFAILED: ${error.message}`);
  if (serverLog) {
    writeFileSync(logPath, serverLog);
    console.error(`the server's log (last 40 lines; all of it in ${logPath}):`);
    // eslint-disable-next-line no-control-regex
    const plain = serverLog.replace(/\x1b\[[0-9;]*m/g, '').trimEnd();
    console.error(plain.split('\n').slice(-40).join('\n'));
  }
  process.exitCode = 1;
} finally {
  if (child && child.exitCode === null) child.kill('SIGTERM');
  if (process.exitCode !== 1) rmSync(dir, { recursive: true, force: true });
}

/** The refusals /metrics counts for CLIENT_NAME. */
async function refusals(base) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`conduit_trusted_document_refusals_total{client="${CLIENT_NAME}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}
