/*
 * The alumnet insights page: sign in, read your `dashboard` over /graphql, draw it with
 * Chart.js (vendored next to this file). An external file, so the page runs under the
 * API's CSP (`script-src 'self'`, no inline script). See docs/INSIGHTS.md.
 *
 * - Sign-in: tokenCreate (e-mail, password); on TWO_FACTOR_REQUIRED, tokenCreateTwoFactor
 *   (the challenge and a code). The access token is kept in sessionStorage (this tab only,
 *   gone when it closes; never in a URL); the refresh token in memory only, to renew an
 *   expired access token while the page is open. Sign out: tokenRevoke.
 * - `document.body.dataset.state` says where the page is: loading, signed-out, code,
 *   message, ready (tests and scripts wait on it).
 */
(function () {
  "use strict";

  var TOKEN_KEY = "alumnet.insights.token";
  var ENDPOINT = "/graphql";

  var SIGN_IN = "mutation InsightsSignIn($email: String!, $password: String!) {\n" +
    "  tokenCreate(input: {email: $email, password: $password}) {\n" +
    "    accessToken refreshToken twoFactorChallenge\n" +
    "    userErrors { code message }\n  }\n}";
  var SECOND_STEP = "mutation InsightsSecondStep($challenge: String!, $code: String!) {\n" +
    "  tokenCreateTwoFactor(input: {challenge: $challenge, code: $code}) {\n" +
    "    accessToken refreshToken userErrors { code message }\n" +
    "  }\n}";
  var REFRESH = "mutation InsightsRefresh($token: String!) {\n" +
    "  tokenRefresh(input: {refreshToken: $token}) { accessToken refreshToken userErrors { code } }\n}";
  var SIGN_OUT = "mutation InsightsSignOut { tokenRevoke(input: {}) { userErrors { code } } }";

  var state = {
    refreshToken: null,
    challenge: null,
    charts: [],
    busy: 0,
  };

  function $(id) {
    return document.getElementById(id);
  }

  // ---- the access token -------------------------------------------------------------

  function readToken() {
    try {
      return window.sessionStorage.getItem(TOKEN_KEY);
    } catch (err) {
      return state.memoryToken || null; // storage disabled: memory only
    }
  }

  function keepToken(token) {
    state.memoryToken = token;
    try {
      if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
      else window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (err) {
      /* memory only */
    }
  }

  // ---- GraphQL over HTTP ------------------------------------------------------------

  function Failure(kind, message) {
    this.kind = kind; // "unauthenticated", "forbidden", "network", "server"
    this.message = message;
  }

  function post(query, variables, token) {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(ENDPOINT, {
      method: "POST",
      headers: headers,
      body: JSON.stringify({ query: query, variables: variables || {} }),
      credentials: "omit",
      cache: "no-store",
    }).then(
      function (response) {
        return response.json().then(
          function (body) {
            return { status: response.status, body: body };
          },
          function () {
            throw new Failure("server", "The server answered something unreadable (HTTP " + response.status + ").");
          }
        );
      },
      function () {
        throw new Failure("network", "The alumnet server cannot be reached. Check your connection and try again.");
      }
    );
  }

  function codeOf(body) {
    var first = body && body.errors && body.errors[0];
    return first && first.extensions ? first.extensions.code : null;
  }

  // A signed-in call: renews an expired access token once with the refresh token.
  function call(query, variables, retried) {
    var token = readToken();
    return post(query, variables, token).then(function (answer) {
      if (answer.status === 401 || codeOf(answer.body) === "UNAUTHENTICATED") {
        if (!retried && state.refreshToken) {
          return renew().then(function (renewed) {
            if (renewed) return call(query, variables, true);
            throw new Failure("unauthenticated", "Your session has ended: sign in again.");
          });
        }
        throw new Failure("unauthenticated", "Your session has ended: sign in again.");
      }
      return answer.body;
    });
  }

  function renew() {
    var refresh = state.refreshToken;
    state.refreshToken = null; // single use, whatever the answer
    return post(REFRESH, { token: refresh }, null).then(
      function (answer) {
        var payload = answer.body && answer.body.data && answer.body.data.tokenRefresh;
        if (!payload || !payload.accessToken) return false;
        keepToken(payload.accessToken);
        state.refreshToken = payload.refreshToken || null;
        return true;
      },
      function () {
        return false;
      }
    );
  }

  // ---- what the page shows ----------------------------------------------------------

  // `data-busy` on the body while the page waits for the server (a sign-in, a load).
  function busy(promise) {
    state.busy += 1;
    document.body.dataset.busy = "1";
    var done = function () {
      state.busy -= 1;
      if (!state.busy) delete document.body.dataset.busy;
    };
    return promise.then(done, function (error) {
      done();
      throw error;
    });
  }

  function show(which) {
    $("sign-in").hidden = which !== "signed-out" && which !== "code";
    $("password-form").hidden = which !== "signed-out";
    $("code-form").hidden = which !== "code";
    $("message").hidden = which !== "message";
    $("dashboard").hidden = which !== "ready";
    $("who").hidden = which !== "ready" && which !== "message";
    $("reload").hidden = which !== "ready";
    $("status").hidden = which !== "loading";
    document.body.dataset.state = which;
  }

  function showMessage(text) {
    $("message-text").textContent = text;
    show("message");
  }

  function signInError(text) {
    var box = $("sign-in-error");
    box.textContent = text || "";
    box.hidden = !text;
  }

  function clearCharts() {
    state.charts.forEach(function (chart) {
      chart.destroy();
    });
    state.charts = [];
    $("dashboard").textContent = "";
  }

  function signedOut(reason) {
    keepToken(null);
    state.refreshToken = null;
    state.challenge = null;
    clearCharts();
    $("who-name").textContent = "";
    $("code").value = "";
    $("password").value = "";
    show("signed-out");
    signInError(reason || "");
    $("email").focus();
  }

  function failed(error) {
    if (error instanceof Failure) {
      if (error.kind === "unauthenticated") return signedOut(error.message);
      return showMessage(error.message);
    }
    // A bug of this page: said plainly, details in the console only.
    if (window.console) window.console.error(error);
    showMessage("Something went wrong while drawing your dashboard. Reload the page to try again.");
  }

  // ---- signing in -------------------------------------------------------------------

  function signedIn(payload) {
    keepToken(payload.accessToken);
    state.refreshToken = payload.refreshToken || null;
    state.challenge = null;
    $("password").value = "";
    $("code").value = "";
    signInError("");
    return load();
  }

  function firstError(payload) {
    return (payload && payload.userErrors && payload.userErrors[0]) || null;
  }

  function onPassword(event) {
    event.preventDefault();
    signInError("");
    var variables = { email: $("email").value.trim(), password: $("password").value };
    busy(post(SIGN_IN, variables, null)
      .then(function (answer) {
        var payload = answer.body && answer.body.data && answer.body.data.tokenCreate;
        if (!payload) throw new Failure("server", plainError(answer.body));
        if (payload.accessToken) return signedIn(payload);
        var error = firstError(payload);
        if (error && error.code === "TWO_FACTOR_REQUIRED" && payload.twoFactorChallenge) {
          state.challenge = payload.twoFactorChallenge;
          $("password").value = "";
          show("code");
          $("code").focus();
          return null;
        }
        signInError(error ? error.message : "Signing in did not work; try again.");
        return null;
      })
      .catch(function (error) {
        signInError(error instanceof Failure ? error.message : "Signing in did not work; try again.");
      }));
  }

  function onCode(event) {
    event.preventDefault();
    signInError("");
    var variables = { challenge: state.challenge || "", code: $("code").value.trim() };
    busy(post(SECOND_STEP, variables, null)
      .then(function (answer) {
        var payload = answer.body && answer.body.data && answer.body.data.tokenCreateTwoFactor;
        if (!payload) throw new Failure("server", plainError(answer.body));
        if (payload.accessToken) return signedIn(payload);
        var error = firstError(payload);
        if (error && error.code === "INVALID_CHALLENGE") {
          signedOut(error.message);
          return null;
        }
        $("code").value = "";
        signInError(error ? error.message : "That code did not work; try again.");
        return null;
      })
      .catch(function (error) {
        signInError(error instanceof Failure ? error.message : "Signing in did not work; try again.");
      }));
  }

  function onSignOut() {
    var token = readToken();
    var done = function () {
      signedOut("");
    };
    if (!token) return done();
    busy(post(SIGN_OUT, {}, token).then(done, done));
  }

  function plainError(body) {
    var first = body && body.errors && body.errors[0];
    return first && first.message ? first.message : "The server could not answer; try again later.";
  }

  // ---- the dashboard ----------------------------------------------------------------

  function load() {
    if (!readToken()) {
      signedOut("");
      return Promise.resolve();
    }
    show("loading");
    return busy(call(window.AlumnetDashboard.query, {})
      .then(function (body) {
        clearCharts();
        // Shown before drawing: Chart.js sizes a chart from its box, which a hidden one lacks.
        $("dashboard").hidden = false;
        var drawn = window.AlumnetDashboard.render(body, $("dashboard"));
        $("who-name").textContent = drawn.name || "";
        if (drawn.message) return showMessage(drawn.message);
        state.charts = drawn.charts;
        show("ready");
        return null;
      })
      .catch(failed));
  }

  function start() {
    if (typeof window.Chart === "undefined" || !window.AlumnetDashboard) {
      showMessage("The chart library did not load. Reload the page to try again.");
      return;
    }
    $("password-form").addEventListener("submit", onPassword);
    $("code-form").addEventListener("submit", onCode);
    $("code-cancel").addEventListener("click", function () {
      signedOut("");
    });
    $("sign-out").addEventListener("click", onSignOut);
    $("reload").addEventListener("click", function () {
      load();
    });
    load();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
