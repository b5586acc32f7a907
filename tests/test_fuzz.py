"""Property-based fuzzing of every query and mutation of the schema (hypothesis-graphql):
whatever well-typed arguments and selections a client sends, the answer is never an HTTP
500 and never shows internal details (tracebacks, SQL, driver names, source paths).

Examples are generated once per operation with a fixed seed (`derandomize`), a handful per
operation so that CI stays fast; each is sent by a signed-in ADMIN (who reaches the most
code) on a fresh session, and by an anonymous caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from hypothesis_graphql import strategies as gql_st

from alumnet.config import Settings, load_settings
from tests.conftest import Api, Mailbox, _truncate

EXAMPLES = 3
# What a response must never contain: a bug's internals, whatever the input.
LEAKS = [
    "Traceback",
    'File "',
    "SELECT ",
    "INSERT INTO",
    "UPDATE ",
    "DELETE FROM",
    "sqlalchemy",
    "psycopg",
    "sqlite3",
    "asyncpg",
    "src/alumnet",
    "site-packages",
    '.py"',
    ".py:",
]
_moments = st.datetimes().map(lambda d: nodes.String(d.isoformat() + "Z"))
SCALARS = {
    "Date": st.one_of(
        st.dates().map(lambda d: nodes.String(d.isoformat())),
        st.text(max_size=12).map(nodes.String),
    ),
    "DateTime": st.one_of(_moments, st.text(max_size=12).map(nodes.String)),
    "Decimal": st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=2).map(nodes.String),
        st.text(max_size=8).map(nodes.String),
    ),
    "JSON": st.just(nodes.Object([])),
    "Upload": st.just(nodes.Null),
}


def graphql_schema() -> graphql.GraphQLSchema:
    from alumnet.schema import build_schema

    return build_schema(load_settings({"ALUMNET_ENV": "test"}))._schema


def _operations() -> list[tuple[str, str]]:
    schema = graphql_schema()
    found = [("query", n) for n in schema.query_type.fields]
    assert schema.mutation_type is not None
    found += [("mutation", n) for n in schema.mutation_type.fields]
    return found


def _documents(kind: str, name: str) -> list[str]:
    """EXAMPLES documents for one root field, the same ones on every run."""
    schema = graphql_schema()
    build = gql_st.queries if kind == "query" else gql_st.mutations
    strategy = build(schema, fields=[name], custom_scalars=SCALARS)
    found: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(document: str) -> None:
        if document not in found:
            found.append(document)

    collect()
    return found


@pytest.fixture(scope="module")
async def fuzz_api(app: Any, settings: Settings, mailbox: Mailbox) -> AsyncIterator[Api]:
    """One client and one ADMIN for the module (each test signs in afresh)."""
    _truncate(settings.database_url)
    app.state.runtime.credentials.invalidate(None)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        api = Api(client=client, app=app, settings=settings, mailbox=mailbox)
        await api.create_user(ADMIN, ["ADMIN"], name="Fuzz Admin")
        yield api
        await app.state.dispatcher.queue.drain()


ADMIN = "fuzz-admin@example.org"


@pytest.mark.parametrize(("kind", "name"), _operations(), ids=lambda v: v)
async def test_no_bug_shows(fuzz_api: Api, kind: str, name: str) -> None:
    api = fuzz_api
    token = await api.sign_in(ADMIN)
    bad: list[str] = []
    for document in _documents(kind, name):
        for who in (token, None):
            response = await api.post(document, token=who)
            text = response.text
            if response.status_code >= 500 and response.status_code != 503:
                bad.append(f"HTTP {response.status_code} for {document}\n{text[:500]}")
            shown = [leak for leak in LEAKS if leak in text and leak not in document]
            if shown:
                bad.append(f"{shown} shown for {document}\n{text[:800]}")
    assert not bad, "\n\n".join(bad)


def test_documents_are_the_same_each_run() -> None:
    """The fixed seed: CI fuzzes the same inputs every time (a failure is reproducible)."""
    assert _documents("mutation", "batchCreate") == _documents("mutation", "batchCreate")
    assert graphql.parse(_documents("query", "users")[0])
