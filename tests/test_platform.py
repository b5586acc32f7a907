"""HTTP surface: health, readiness, metrics, GraphiQL, limits and malformed requests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from graphql import GraphQLError

from alumnet.config import ConfigurationError, load_settings
from alumnet.schema.errors import should_mask
from tests.conftest import Api, env_for


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
    text = (await api.client.get("/metrics")).text
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
        load_settings({"ALUMNET_ENV": "production"}).check_production()
    with pytest.raises(ConfigurationError, match="too short"):
        load_settings(
            {"ALUMNET_ENV": "production", "ALUMNET_SECRET_KEY": "short"}
        ).check_production()
    load_settings({"ALUMNET_ENV": "production", "ALUMNET_SECRET_KEY": "x" * 40}).check_production()


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
    text = (await api.client.get("/metrics")).text
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
    assert cheap["extensions"]["cost"] == {"requested": 41, "maximum": api.settings.max_query_cost}
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
