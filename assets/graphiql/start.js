// Starts GraphiQL on this page. Served by the gateway itself, like the
// bundles it uses, so the page's Content-Security-Policy needs no inline
// script.
(function () {
  'use strict';

  // GraphiQL's dialogs (settings, shortcuts) lock the page's scroll with a
  // <style> element they add at run time. The policy allows a <style> only
  // with this response's nonce, which the server put on this script's tag;
  // the library (react-remove-scroll) puts `__webpack_nonce__` on the
  // elements it adds.
  window.__webpack_nonce__ = document.currentScript.nonce;

  // Queries and mutations go to /graphql over HTTP, subscriptions to the
  // same path over a WebSocket (graphql-transport-ws) on this origin. The
  // headers in the Headers tab travel with both: as HTTP headers, and as
  // the WebSocket's `connection_init` payload, where the server reads
  // `Authorization` too.
  var ws = location.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({
    url: '/graphql',
    subscriptionUrl: ws + '//' + location.host + '/graphql',
  });

  // Runs on an empty database: no sign-in, no ids.
  var defaultQuery = [
    '# Conduit GraphQL. Run with the \u25B6 button (Ctrl-Enter).',
    '#',
    '# This query works on an empty database. To act as a',
    '# user, run signUp or signIn, then put its token in the',
    '# Headers tab below: "Authorization": "Bearer <token>"',
    '# (left empty, you are anonymous). Subscriptions run',
    '# over a WebSocket to this server, with the same headers.',
    '',
    '{',
    '  popularTags {',
    '    name',
    '    articlesCount',
    '  }',
    '  articles(first: 5) {',
    '    totalCount',
    '    nodes {',
    '      title',
    '      author {',
    '        username',
    '      }',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      // Valid JSON that names the header; empty, it is anonymous.
      defaultHeaders: '{\n  "Authorization": ""\n}',
      // Open at the Headers tab, and never keep a token in localStorage.
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    }),
  );
})();
