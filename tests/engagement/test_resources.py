"""A mission's resources: documents and links, for its active students, mentors and staff."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import func, select, update

from alumnet.persistence.models import Enrollment, Resource, StoredFile
from tests.engagement.conftest import Programme, call, codes, ok
from tests.engagement.test_grading import PDF, PNG

CREATE = """mutation($i: ResourceCreateInput!) { resourceCreate(input: $i) {
  resource { id title folder url file { name contentType size downloadUrl }
  createdBy { name } } userErrors { field code message } } }"""
UPDATE = """mutation($i: ResourceUpdateInput!) { resourceUpdate(input: $i) {
  resource { id title folder url } userErrors { field code } } }"""
DELETE = """mutation($i: ResourceDeleteInput!) { resourceDelete(input: $i) {
  deletedId userErrors { field code } } }"""
LIST = """query($m: ID!, $f: String) { node(id: $m) { ... on Mission {
  resources(folder: $f) { id title folder url file { name downloadUrl } } } } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on Resource { title } } }"""


async def add_file(p: Programme, who: str, name: str, data: bytes, **given: Any) -> Any:
    """resourceCreate with a file, as a GraphQL multipart request."""
    fields = {"missionId": p.ids["ma"], "title": "Slides", "folder": "Week 1", **given,
              "file": None}  # fmt: skip
    operations = {"query": CREATE, "variables": {"i": fields}}
    response = await p.api.client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.i.file"]})},
        files={"0": (name, data)},
        headers={"Authorization": f"Bearer {p.tokens[who]}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["resourceCreate"]


async def listed(p: Programme, who: str, folder: str | None = None) -> Any:
    body = await p.gql(who, LIST, {"m": p.ids["ma"], "f": folder})
    assert "errors" not in body, body
    node = body["data"]["node"]
    return None if node is None else node["resources"]


async def count(p: Programme, model: Any = Resource) -> int:
    async with p.api.app.state.runtime.database.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


async def test_documents_and_links_for_the_mission(programme: Programme) -> None:
    p = programme
    link = await ok(p, "manager", CREATE, {"i": {"missionId": p.ids["ma"], "title": "Syllabus",
                    "url": "https://example.org/syllabus"}}, "resourceCreate")  # fmt: skip
    assert link["resource"]["folder"] == "" and link["resource"]["file"] is None
    slides = await add_file(p, "m1", "week1.pdf", PDF)  # a mentor of the mission
    assert slides["userErrors"] == []
    made = slides["resource"]
    assert made["file"]["contentType"] == "application/pdf" and made["file"]["size"] == len(PDF)
    assert made["createdBy"] == {"name": "M1 Person"}
    for who in ("s1", "s2", "m1", "m2", "manager", "sre"):
        titles = [(r["folder"], r["title"]) for r in await listed(p, who)]
        assert titles == [("", "Syllabus"), ("Week 1", "Slides")], who
    assert [r["title"] for r in await listed(p, "s1", "Week 1")] == ["Slides"]
    assert await listed(p, "s3") is None  # another mission's student: no such mission
    assert (await p.gql("s3", NODE, {"id": made["id"]}))["data"]["node"] is None
    assert (await p.gql("s2", NODE, {"id": made["id"]}))["data"]["node"] == {"title": "Slides"}
    # The file, through a link signed for its reader.
    [_, mine] = await listed(p, "s1")
    url = urlparse(mine["file"]["downloadUrl"])
    got = await p.api.client.get(f"{url.path}?{url.query}")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["x-content-type-options"] == "nosniff"
    # A restricted student sees nothing more, and their link stops working.
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(Enrollment)
            .where(Enrollment.id == int(_pk(p.ids["e_s1_ma"])))
            .values(status="banned")
        )
    assert await listed(p, "s1") == []
    assert (await p.gql("s1", NODE, {"id": made["id"]}))["data"]["node"] is None
    assert (await p.api.client.get(f"{url.path}?{url.query}")).status_code == 404
    # A ban that is over (before the nightly job lifts it): taking part again.
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(Enrollment)
            .where(Enrollment.id == int(_pk(p.ids["e_s1_ma"])))
            .values(banned_until=datetime.now(UTC).date() - timedelta(days=3))
        )
    assert len(await listed(p, "s1")) == 2
    assert [r["title"] for r in await listed(p, "s2")] == ["Syllabus", "Slides"]


def _pk(gid: str) -> str:
    from strawberry.relay import from_base64

    return from_base64(gid)[1]


async def test_who_may_add_change_and_delete(programme: Programme) -> None:
    p = programme
    made = (await add_file(p, "m1", "notes.pdf", PDF, title="Notes"))["resource"]
    for who in ("s1", "m2"):  # m2 mentors in this mission, but did not add it
        refused = await call(p, who, UPDATE, {"i": {"id": made["id"], "title": "Mine"}},
                             "resourceUpdate")  # fmt: skip
        assert codes(refused) == ["NOT_FOUND"], who
    # Not a mentor of mission B2-C, nor a student adding anything.
    for who, mission in (("m1", "mc"), ("s1", "ma"), ("alumnus", "ma")):
        refused = await call(p, who, CREATE, {"i": {"missionId": p.ids[mission], "title": "X",
                             "url": "https://example.org"}}, "resourceCreate")  # fmt: skip
        assert codes(refused) == ["NOT_FOUND"], who
    moved = await ok(p, "m1", UPDATE, {"i": {"id": made["id"], "folder": "  Week   2 "}},
                     "resourceUpdate")  # fmt: skip
    assert moved["resource"]["folder"] == "Week 2" and moved["resource"]["title"] == "Notes"
    relinked = await call(p, "m1", UPDATE, {"i": {"id": made["id"], "url": "https://x.org"}},
                          "resourceUpdate")  # fmt: skip
    assert codes(relinked) == ["INVALID"]
    files_before = await count(p, StoredFile)
    gone = await ok(p, "manager", DELETE, {"i": {"id": made["id"]}}, "resourceDelete")
    assert gone["deletedId"] == made["id"]
    assert await listed(p, "s2") == []
    async with p.api.app.state.runtime.database.connect() as conn:
        expired = await conn.execute(select(StoredFile.expires_at).order_by(StoredFile.id.desc()))
        assert expired.first()[0] is not None  # the nightly clean-up deletes it
    assert await count(p, StoredFile) == files_before
    again = await call(p, "manager", DELETE, {"i": {"id": made["id"]}}, "resourceDelete")
    assert codes(again) == ["NOT_FOUND"]


async def test_bad_input_writes_nothing(programme: Programme) -> None:
    p = programme
    base = {"missionId": p.ids["ma"], "title": "Reading"}
    for given, field, code in (
        ({"url": "http://example.org"}, "url", "INVALID_URL"),
        ({"url": "javascript:alert(1)"}, "url", "INVALID_URL"),
        ({}, "url", "REQUIRED"),
        ({"url": "https://example.org", "title": "  "}, "title", "REQUIRED"),
        ({"url": "https://example.org", "title": "x" * 201}, "title", "TOO_LONG"),
        ({"url": "https://example.org", "folder": "f" * 101}, "folder", "TOO_LONG"),
        ({"url": "https://example.org", "title": "a\x07b"}, "title", "INVALID"),
        ({"url": "https://example.org", "title": "\u202eevil.pdf"}, "title", "INVALID"),
        ({"url": "https://example.org/\nX"}, "url", "INVALID_URL"),
        ({"url": "https://example.org\\@evil.org/"}, "url", "INVALID_URL"),
        ({"url": "https://example.org", "file": "%PDF not a file"}, "file", "INVALID"),
    ):
        refused = await call(p, "manager", CREATE, {"i": {**base, **given}}, "resourceCreate")
        assert [(e["field"][-1], e["code"]) for e in refused["userErrors"]] == [(field, code)], (
            given
        )
    lying = await add_file(p, "manager", "notes.pdf", PNG)
    assert codes(lying) == ["FILE_TYPE"]
    both = await add_file(p, "manager", "notes.pdf", PDF, url="https://example.org")
    assert codes(both) == ["INVALID"]
    big = await add_file(p, "manager", "big.pdf", b"%PDF-1.7\n" + b"0" * (51 * 1024 * 1024))
    assert codes(big) == ["FILE_TOO_LARGE"]
    assert await count(p) == 0 and await count(p, StoredFile) == 0


async def test_resources_of_many_missions_cost_the_same_statements(programme: Programme) -> None:
    p = programme
    for mission in ("ma", "mb"):
        for i in range(3):
            await ok(p, "manager", CREATE, {"i": {"missionId": p.ids[mission], "title": f"R{i}",
                     "url": f"https://example.org/{i}"}}, "resourceCreate")  # fmt: skip
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Mission { resources {
      title createdBy { name } } } } }"""
    one, body = await p.api.sql_count(query, {"ids": [p.ids["ma"]]}, p.tokens["s1"])
    assert len(body["data"]["nodes"][0]["resources"]) == 3
    two, body = await p.api.sql_count(query, {"ids": [p.ids["ma"], p.ids["mb"]]}, p.tokens["s1"])
    assert [len(n["resources"]) for n in body["data"]["nodes"]] == [3, 3]
    assert one == two
