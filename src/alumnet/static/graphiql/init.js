/*
 * alumnet GraphiQL bootstrap. Loaded as an external file so the page works
 * under `script-src 'self'` (no inline script).
 *
 * - HTTP endpoint: same origin, path /graphql.
 * - Subscriptions: same origin and path over ws:/wss: using the
 *   graphql-transport-ws protocol (graphql-ws client bundled in graphiql.min.js,
 *   used via the fetcher's `subscriptionUrl`).
 * - Auth: a bearer token in localStorage["alumnet.token"], if present, is sent
 *   as `Authorization: Bearer <token>` on HTTP requests and as the
 *   connection_init payload `{"Authorization": "Bearer <token>"}` for
 *   subscriptions. An Authorization header typed in GraphiQL's Headers editor
 *   takes precedence; other editor headers are sent as usual (and are merged
 *   into the connection_init payload for subscriptions).
 */
(function () {
  "use strict";

  var TOKEN_KEY = "alumnet.token";
  var ENDPOINT_PATH = "/graphql";

  function readToken() {
    try {
      var raw = window.localStorage.getItem(TOKEN_KEY);
      if (!raw) return null;
      var token = raw.trim().replace(/^bearer\s+/i, "");
      return token || null;
    } catch (err) {
      return null; // storage disabled (privacy mode, sandboxed frame, ...)
    }
  }

  function hasHeader(headers, name) {
    var wanted = name.toLowerCase();
    return Object.keys(headers).some(function (key) {
      return key.toLowerCase() === wanted;
    });
  }

  var loc = window.location;
  var httpUrl = loc.protocol + "//" + loc.host + ENDPOINT_PATH;
  var wsUrl = (loc.protocol === "https:" ? "wss:" : "ws:") + "//" + loc.host + ENDPOINT_PATH;

  // With `subscriptionUrl`, the toolkit creates a graphql-ws client per
  // subscription whose connectionParams (the connection_init payload) are the
  // headers passed in fetcherOpts, so the token is read afresh every time.
  var baseFetcher = GraphiQL.createFetcher({
    url: httpUrl,
    subscriptionUrl: wsUrl,
  });

  function fetcher(graphQLParams, fetcherOpts) {
    var opts = Object.assign({}, fetcherOpts);
    var headers = Object.assign({}, opts.headers);
    var token = readToken();
    if (token && !hasHeader(headers, "authorization")) {
      headers.Authorization = "Bearer " + token;
    }
    opts.headers = headers;
    return baseFetcher(graphQLParams, opts);
  }

  var container = document.getElementById("graphiql");
  var root = ReactDOM.createRoot(container);
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      shouldPersistHeaders: true,
    })
  );
})();
