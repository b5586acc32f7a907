"""HTTP surface: health, readiness, metrics, GraphiQL, limits and malformed requests."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLError

from alumnet.config import ConfigurationError, Settings, load_settings
from alumnet.schema.errors import should_mask
from tests.conftest import Api, LoggedServer, env_for


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["redis"] == (
        "ok" if api.settings.redis_url else "not configured (in-process queue and pub/sub)"
    )


async def test_metrics_count_operations_by_name(api: Api) -> None:
    await api.gql("query DashboardProbe { viewer { id } }")
    text = await api.metrics()
    assert 'alumnet_graphql_requests_total{operation="DashboardProbe",outcome="ok"}' in text
    assert "alumnet_graphql_request_seconds_bucket" in text
    assert "alumnet_sql_statements_total" in text
    assert "alumnet_jobs_total" in text or "# HELP alumnet_jobs_total" in text


async def test_request_id_and_debug_timing(api: Api) -> None:
    response = await api.post("{ viewer { id } }", headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    assert response.headers["server-timing"].startswith("sql;dur=")
    timing = response.json()["extensions"]["timing"]
    assert set(timing) == {"sqlStatements", "sqlMs", "totalMs"}
    hostile = await api.post("{ viewer { id } }", headers={"X-Request-ID": "bad id\r\nx: y"})
    assert hostile.headers["x-request-id"] != "bad id\r\nx: y"


async def test_graphiql_is_served_locally_under_a_strict_csp(api: Api) -> None:
    page = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    html = page.text
    assert "https://" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "<script>" not in html
    for src in [part.split('"')[1] for part in html.split("src=")[1:]]:
        asset = await api.client.get(src)
        assert asset.status_code == 200, src


async def test_malformed_json_is_a_clear_400(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        content=b'{"query": "{ viewer { id } ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "JSON" in response.text


async def test_oversized_body_is_refused(api: Api) -> None:
    big = "{ viewer { id } }" + " " * (api.settings.max_body_bytes + 10)
    response = await api.client.post("/graphql", json={"query": big})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_unknown_fields_are_a_validation_error(api: Api) -> None:
    body = await api.gql("{ viewer { id passwordHash } }")
    assert body["data"] is None
    assert "passwordHash" in body["errors"][0]["message"]


async def test_too_deep_queries_are_refused(api: Api) -> None:
    inner = "id"
    for _ in range(api.settings.max_query_depth + 1):
        inner = f"user {{ {inner} }}"
    query = "{ viewer { personalAccessTokens { edges { node { " + inner + " } } } } }"
    body = await api.gql(query)
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


async def test_too_many_aliases_are_refused(api: Api) -> None:
    fields = " ".join(f"a{i}: viewer {{ id }}" for i in range(api.settings.max_aliases + 1))
    body = await api.gql("{ " + fields + " }")
    assert "aliases" in body["errors"][0]["message"].lower()


async def test_too_many_tokens_are_refused(api: Api) -> None:
    fields = " ".join("__typename" for _ in range(api.settings.max_tokens))
    body = await api.gql("{ " + fields + " }")
    assert "token" in body["errors"][0]["message"].lower()


async def test_batching_is_off(api: Api) -> None:
    response = await api.client.post(
        "/graphql", json=[{"query": "{ viewer { id } }"}, {"query": "{ viewer { id } }"}]
    )
    assert response.status_code == 400


def test_internal_errors_are_masked_and_public_ones_are_not() -> None:
    bug = GraphQLError("boom: db password is hunter2", original_error=RuntimeError("x"))
    assert should_mask(bug)
    public = GraphQLError("Sign in first", extensions={"code": "UNAUTHENTICATED"})
    assert not should_mask(public)
    validation = GraphQLError("Cannot query field 'x'")
    assert not should_mask(validation)


def test_production_needs_a_real_secret() -> None:
    with pytest.raises(ConfigurationError, match="ALUMNET_SECRET_KEY"):
        load_settings({"ALUMNET_ENV": "production"}).checked()
    with pytest.raises(ConfigurationError, match="too short"):
        load_settings({"ALUMNET_ENV": "production", "ALUMNET_SECRET_KEY": "short"}).checked()
    load_settings({"ALUMNET_ENV": "production", "ALUMNET_SECRET_KEY": "x" * 40}).checked()


PUBLISHED = "alumnet-development-secret-do-not-use-in-production"


@pytest.mark.parametrize("env", ["development", "test", None])
def test_a_database_server_needs_a_secret_of_its_own_whatever_the_env(env: str | None) -> None:
    given = {"ALUMNET_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/alumnet"}
    if env:
        given["ALUMNET_ENV"] = env
    with pytest.raises(ConfigurationError, match="ALUMNET_SECRET_KEY is not set"):
        load_settings(given).checked()
    for known in (PUBLISHED, "short-but-random"):
        with pytest.raises(ConfigurationError, match="ALUMNET_SECRET_KEY"):
            load_settings({**given, "ALUMNET_SECRET_KEY": known}).checked()
    own = load_settings({**given, "ALUMNET_SECRET_KEY": "z" * 40}).checked()
    assert own.secret_source == "ALUMNET_SECRET_KEY"


def test_the_embedded_default_makes_its_own_secret_once(tmp_path: Path) -> None:
    given = {"ALUMNET_VAR_DIR": str(tmp_path / "var")}
    first = load_settings(given).checked()
    kept = tmp_path / "var" / "secret_key"
    assert "generated now" in first.secret_source and str(kept) in first.secret_source
    assert kept.stat().st_mode & 0o777 == 0o600
    assert len(first.secret_key) >= 48 and first.secret_key != PUBLISHED
    again = load_settings(given).checked()
    assert again.secret_key == first.secret_key and "earlier start" in again.secret_source
    kept.write_text(PUBLISHED)
    with pytest.raises(ConfigurationError, match="usable secret"):
        load_settings(given).checked()


async def test_a_token_signed_with_the_published_secret_is_refused(tmp_path: Path) -> None:
    """A server started without ALUMNET_ENV or a secret: the development secret that was
    in the source no longer signs anything it accepts."""
    import jwt

    from alumnet.app import create_app

    app = create_app(load_settings({"ALUMNET_VAR_DIR": str(tmp_path / "var")}))
    assert app.state.runtime.settings.secret_key not in (PUBLISHED, "")
    now = int(time.time())
    forged = jwt.encode(
        {"sub": "1", "sid": "1", "iat": now, "exp": now + 600, "iss": "alumnet",
         "aud": "alumnet-api", "jti": "forged"},
        PUBLISHED,
        algorithm="HS256",
    )  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { id roles } }"},
            headers={"Authorization": f"Bearer {forged}"},
        )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await app.state.runtime.database.dispose()


def test_cli_refuses_production_without_secret_and_demo_seed(settings: object) -> None:
    env = env_for(settings)  # type: ignore[arg-type]
    env["ALUMNET_ENV"] = "production"
    env.pop("ALUMNET_SECRET_KEY")
    serve = subprocess.run(
        [sys.executable, "-m", "alumnet.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert serve.returncode == 2
    assert "ALUMNET_SECRET_KEY is not set" in serve.stderr
    env["ALUMNET_SECRET_KEY"] = "y" * 48
    seed = subprocess.run(
        [sys.executable, "-m", "alumnet.cli", "seed", "--demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert seed.returncode == 2
    assert "production" in seed.stderr


async def test_metrics_report_jobs_by_status(api: Api) -> None:
    await api.create_user("stu@example.org", ["STUDENT"])
    await api.gql(
        'mutation { passwordResetRequest(input: {email: "stu@example.org"}) { accepted } }'
    )
    await api.run_jobs()
    text = await api.metrics()
    assert 'alumnet_jobs_recorded{job="email.send",status="succeeded"} 1.0' in text


async def test_queries_work_over_get_but_mutations_do_not(api: Api) -> None:
    got = await api.client.get("/graphql", params={"query": "{ viewer { id } }"})
    assert got.status_code == 200
    assert got.json()["data"] == {"viewer": None}
    mutation = await api.client.get(
        "/graphql",
        params={"query": 'mutation { tokenRevoke(input: {refreshToken: "x"}) { revoked } }'},
    )
    assert mutation.status_code == 400
    assert "mutations are not allowed" in mutation.text.lower()


async def test_outbox_transport_writes_eml_files(tmp_path: Path) -> None:
    from alumnet.domain.ops.mail import Letter
    from alumnet.workers.mail import OutboxTransport

    outbox = OutboxTransport(tmp_path / "outbox", "alumnet <no-reply@example.org>")
    letter = Letter(subject="Hello", text="Body", html="<p>Body</p>", message_id="<m-1@x>")
    async with outbox.open() as sender:
        await sender.send(to="a@example.org", letter=letter)
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    content = eml.read_text()
    assert "To: a@example.org" in content
    assert "Subject: Hello" in content
    assert "multipart/alternative" in content and "text/html" in content


async def test_failures_from_one_address_are_throttled(api: Api) -> None:
    limit = api.settings.signin_max_failures_per_address
    query = (
        'mutation($e: String!) { tokenCreate(input: {email: $e, password: "wrong one!"}) '
        "{ userErrors { code } } }"
    )
    for i in range(limit):
        await api.gql(query, {"e": f"probe{i}@example.org"})
    body = await api.gql(query, {"e": "fresh@example.org"})
    assert body["data"]["tokenCreate"]["userErrors"] == [{"code": "THROTTLED"}]


async def test_query_cost_is_reported_and_bounded(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    cheap = await api.gql("{ users(first: 10) { edges { node { id email } } } }", token=admin)
    # users: 1 + 10 * (edges 1 + node 1 + id 1 + email 1)
    cost = cheap["extensions"]["cost"]
    assert cost["requested"] == 41 and cost["maximum"] == api.settings.max_query_cost
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}
    nested = """query($n: Int) { batches(first: $n) { edges { node {
      missions(first: 100) { edges { node {
        enrollments(first: 1000) { edges { node { id student { name } } } } } } } } } } }"""
    body = await api.gql(nested, {"n": 50}, token=admin)
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert "first/last" in error["message"]
    small = await api.gql(nested, {"n": 1}, token=admin)
    assert "errors" not in small
    # A variable's default counts as if given.
    defaulted = nested.replace("query($n: Int)", "query($n: Int = 50)")
    body = await api.gql(defaulted, token=admin)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


async def test_fragments_that_expand_too_far_are_refused_before_validation(api: Api) -> None:
    """Thirty fragments, each spreading the next twice, expand to 2^30 fields: refused at
    once (the depth and alias limiters would walk every spread). A few levels of the same
    are fine, and the repeated fields merge, in the cost as in the result."""
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])

    def chain(levels: int) -> str:
        spreads = "".join(
            f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }} " for i in range(levels)
        )
        return f"query {{ ...F0 }} {spreads} fragment F{levels} on Query {{ viewer {{ id }} }}"

    body = await api.gql(chain(30), token=admin)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"
    assert "data" not in body or body["data"] is None
    body = await api.gql(chain(4), token=admin)
    assert body["data"]["viewer"]["id"]
    assert body["extensions"]["cost"]["requested"] == 2


MALFORMED = {
    "not UTF-8": b'{"query": "{ viewer { id } }", "variables": {"a": "\xff\xfe"}}',
    "nested 50,000 deep": b'{"query": "{ viewer { id } }", "variables": {"a": '
    + b"[" * 50_000
    + b"]" * 50_000
    + b"}}",
    "a lone surrogate": b'{"query": "query($a: String) { viewer { id } }", '
    b'"variables": {"a": "\\ud800"}}',
}


async def test_malformed_bodies_are_400s_in_json_with_one_warning_line(
    logged_server: LoggedServer,
) -> None:
    async with httpx.AsyncClient(base_url=f"http://{logged_server.base}") as client:
        for name, body in MALFORMED.items():
            response = await client.post(
                "/graphql", content=body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 400, name
            [error] = response.json()["errors"]
            assert error["extensions"]["code"] == "BAD_REQUEST", name
            assert "not valid" in error["message"] and "\ud800" not in error["message"]
        fine = await client.post("/graphql", json={"query": "{ viewer { id } }"})
        assert fine.status_code == 200
    lines = logged_server.stop()
    assert not any("Traceback" in line for line in lines), lines
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert [(e["event"], e["level"], e["status"]) for e in logged] == [
        ("request", "warning", 400)
    ] * len(MALFORMED), logged


async def test_metrics_are_for_the_scraper_only_and_stay_bounded(api: Api) -> None:
    """Strangers get nothing; names a client makes up are all counted as "other", so 200
    new names add no series."""
    refused = await api.client.get("/metrics")  # from 203.0.113.7, no token
    assert refused.status_code == 403
    wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 403
    local = httpx.ASGITransport(app=api.app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=local, base_url="http://testserver") as client:
        assert (await client.get("/metrics")).status_code == 200

    def series(text: str) -> int:
        return sum(1 for line in text.splitlines() if line.startswith("alumnet_graphql_"))

    await api.gql("query Warmup { viewer { id } }")
    before = series(await api.metrics())
    for i in range(200):
        await api.gql(f"query Made{i}x{i * 7} {{ viewer {{ id }} }}")
    text = await api.metrics()
    assert series(text) == before
    assert 'operation="Made1x7"' not in text
    assert 'alumnet_graphql_requests_total{operation="other",outcome="ok"}' in text


async def test_json_that_is_not_an_object_is_a_400(api: Api) -> None:
    for body in (b"1", b'"x"', b"null", b"true"):
        response = await api.client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    _, token = await api.create_user("admin@example.org", ["ADMIN"])
    signed = {"Authorization": f"Bearer {token}"}
    for operations, files_map in (("1", "{}"), ('{"query": "{ viewer { id } }"}', "null")):
        response = await api.client.post(
            "/graphql", data={"operations": operations, "map": files_map},
            files={"0": ("a.csv", b"x")}, headers=signed,
        )  # fmt: skip
        assert response.status_code == 400, (operations, files_map)
        assert response.headers["content-type"].startswith("application/json")
    broken = await api.client.post(
        "/graphql", content=b"--x\r\nnot a part",
        headers={**signed, "Content-Type": "multipart/form-data; boundary=x"},
    )  # fmt: skip
    assert broken.status_code == 400
    assert broken.headers["content-type"].startswith("application/json")


async def test_page_sizes_given_as_floats_and_introspection_are_counted(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    nested = """query($f: Int) { batches(first: $f) { edges { node {
      missions(first: $f) { edges { node { enrollments(first: $f) { edges { node { id }
    } } } } } } } } }"""
    for first in (1000, 1000.0, 1e3):
        body = await api.gql(nested, {"f": first}, token=admin)
        assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY", first
    once = await api.gql("{ __schema { queryType { name } } }")
    assert once["extensions"]["cost"]["requested"] >= 50_000
    twice = await api.gql("{ a: __schema { queryType { name } } b: __schema { types { name } } }")
    assert twice["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


def test_only_bugs_are_logged_as_errors(caplog: pytest.LogCaptureFixture) -> None:
    """A refusal the client is meant to get (bad input, forbidden) is its answer; a bug is
    the operator's, with its traceback."""
    from alumnet.schema import build_schema
    from alumnet.schema.errors import bad_input, forbidden

    schema = build_schema(load_settings({"ALUMNET_ENV": "test"}))

    def raised(error: Exception) -> GraphQLError:
        return GraphQLError("wrapped", original_error=error)

    with caplog.at_level(logging.ERROR, logger="strawberry.execution"):
        schema.process_errors([raised(bad_input("At most 20 skills.")), raised(forbidden())])
        assert caplog.records == []
        schema.process_errors([raised(ZeroDivisionError("a bug"))])
    [record] = caplog.records
    assert record.exc_info is not None and isinstance(record.exc_info[1], ZeroDivisionError)


async def test_every_refusal_is_graphql_json_with_a_code(api: Api) -> None:
    async def refused(response: httpx.Response) -> tuple[int, str, str]:
        assert response.headers["content-type"].startswith("application/json"), response.text
        [error] = response.json()["errors"]
        return response.status_code, error["extensions"]["code"], error["message"]

    bad_json = await api.client.post(
        "/graphql", content=b"{bad", headers={"Content-Type": "application/json"}
    )
    assert (await refused(bad_json))[:2] == (400, "BAD_REQUEST")
    unknown = await api.client.post(
        "/graphql", json={"query": "query A { __typename }", "operationName": "B"}
    )
    status, code, message = await refused(unknown)
    assert (status, code) == (400, "OPERATION_NOT_FOUND") and '"B"' in message
    assert ".." not in message
    subscription = await api.client.post(
        "/graphql", json={"query": "subscription { notificationReceived { id } }"}
    )
    status, code, message = await refused(subscription)
    assert (status, code) == (400, "SUBSCRIPTION_OVER_HTTP") and "WebSocket" in message
    by_get = await api.client.get(
        "/graphql", params={"query": "subscription { notificationReceived { id } }"}
    )
    assert (await refused(by_get))[:2] == (400, "SUBSCRIPTION_OVER_HTTP")
    nowhere = await api.client.get("/graphq")
    assert (await refused(nowhere))[:2] == (404, "NOT_FOUND")
    put = await api.client.put("/graphql", json={"query": "{ __typename }"})
    assert (await refused(put))[:2] == (405, "METHOD_NOT_ALLOWED")
    no_query = await api.client.post("/graphql", json={"variables": {}})
    assert (await refused(no_query))[:2] == (400, "BAD_REQUEST")


async def test_expected_errors_are_one_log_line_each(logged_server: LoggedServer) -> None:
    async with httpx.AsyncClient(base_url=f"http://{logged_server.base}") as client:
        await client.post("/graphql", json={"query": "{ users { totalCount } }"})
        await client.post("/graphql", json={"query": "{ nope }"})
    lines = logged_server.stop()
    assert not any("Traceback" in line for line in lines), lines


async def test_a_forbidden_root_field_is_null_beside_the_rest(api: Api) -> None:
    """README's FirstLook as a mentor: `users` is not theirs, `viewer` still answers."""
    _, mentor = await api.create_user("mentor@example.org", ["MENTOR"])
    body = await api.gql(
        "query FirstLook { viewer { email } users(first: 5) { totalCount } "
        "auditEvents(first: 1) { totalCount } }",
        token=mentor,
    )
    assert body["data"] == {"viewer": {"email": "mentor@example.org"}, "users": None,
                            "auditEvents": None}  # fmt: skip
    refused = {tuple(e["path"]): e["extensions"]["code"] for e in body["errors"]}
    assert refused == {("users",): "FORBIDDEN", ("auditEvents",): "FORBIDDEN"}
    signed_out = await api.gql("{ viewer { email } users(first: 1) { totalCount } }")
    assert signed_out["data"] == {"viewer": None, "users": None}
    assert signed_out["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_bug_is_a_json_500_with_the_request_id(settings: Settings) -> None:
    from alumnet.app import RequestMiddleware

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=RequestMiddleware(broken, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.get("/graphql", headers={"X-Request-Id": "bug-1"})
    assert answer.status_code == 500 and answer.headers["x-request-id"] == "bug-1"
    [error] = answer.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR" and "a bug" not in str(error)


async def test_malformed_values_and_documents_say_their_code(api: Api) -> None:
    by_id = "query($id: ID!) { node(id: $id) { id } }"
    cases = [
        ({"query": by_id, "variables": {"id": 5.5}}, "BAD_USER_INPUT"),
        ({"query": by_id}, "BAD_USER_INPUT"),
        ({"query": "{ viewer { id "}, "GRAPHQL_PARSE_FAILED"),
        ({"query": '{ nodes(ids: ["garbage"]) { id } }'}, "BAD_USER_INPUT"),
        ({"query": '{ node(id: "Zm9vOjE=") { id } }'}, "BAD_USER_INPUT"),
    ]
    for body, code in cases:
        answer = (await api.client.post("/graphql", json=body)).json()
        assert [e["extensions"]["code"] for e in answer["errors"]] == [code], answer
