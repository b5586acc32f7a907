"""The cohorts programme, for data tests, plus a way to upload files."""

from __future__ import annotations

import json
from typing import Any

from tests.cohorts.conftest import Programme, programme  # noqa: F401  (the fixture)

UPLOAD = """mutation($i: ImportUploadInput!) { importUpload(input: $i) {
  import { id status } job { id } userErrors { field code message } } }"""
STATUS = """query($n: ID!) { node(id: $n) { ... on Import { status total: processed created updated
  unchanged rejected error sha256 name
  rows(first: 1000) { totalCount edges { node { id rowNumber action naturalKey
    problems { field code message } likelyDuplicateIds before after } } } } } }"""


async def upload(
    p: Programme, who: str, content: bytes, filename: str = "people.csv", **given: Any
) -> Any:
    """A GraphQL multipart request (operations, map, the file) as a client sends it."""
    variables = {"i": {"file": None, "kind": "ALUMNI", **given}}
    response = await p.api.client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": UPLOAD, "variables": variables}),
            "map": json.dumps({"0": ["variables.i.file"]}),
        },
        files={"0": (filename, content, "text/csv")},
        headers={"Authorization": f"Bearer {p.tokens[who]}"},
    )
    return response.json()


async def status(p: Programme, import_id: str) -> Any:
    await p.api.run_jobs()
    body = await p.gql("admin", STATUS, {"n": import_id})
    assert "errors" not in body, body
    found = body["data"]["node"]
    # The rows as a plain list in file order (the first 1,000), for the tests' convenience.
    found["rows"] = [edge["node"] for edge in found["rows"]["edges"]]
    return found
