"""Who sees what: every role against objects it may and may not see."""

from __future__ import annotations

import pytest

from tests.cohorts.conftest import Programme

BATCHES = """{ batches(first: 10) { totalCount edges { node { code
  missions(first: 10) { edges { node { code enrollments { edges { node { student { email } } } }
                            mentors { mentor { email } menteeCount } } } }
  students { totalCount edges { node { email } } } } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id } }"


def shape(body: dict) -> dict:
    out = {}
    for b in body["data"]["batches"]["edges"]:
        batch = b["node"]
        missions = {}
        for m in batch["missions"]["edges"]:
            mission = m["node"]
            missions[mission["code"]] = (
                sorted(
                    e["node"]["student"]["email"].split("@")[0]
                    for e in mission["enrollments"]["edges"]
                ),
                sorted(
                    (x["mentor"]["email"].split("@")[0], x["menteeCount"])
                    for x in mission["mentors"]
                ),
            )
        students = sorted(s["node"]["email"].split("@")[0] for s in batch["students"]["edges"])
        out[batch["code"]] = (missions, students)
    return out


@pytest.mark.parametrize("who", ["admin", "manager", "sre"])
async def test_staff_see_everything(programme: Programme, who: str) -> None:
    body = await programme.gql(who, BATCHES)
    assert shape(body) == {
        "B1": (
            {"B1-A": (["s1", "s2"], [("m1", 1), ("m2", 1)]), "B1-B": (["s1"], [("m2", 1)])},
            ["s1", "s2"],
        ),
        "B2": ({"B2-C": (["s3"], [])}, ["s3"]),
    }


async def test_a_mentor_sees_only_their_mentees_in_their_missions(programme: Programme) -> None:
    assert shape(await programme.gql("m1", BATCHES)) == {
        "B1": ({"B1-A": (["s1"], [("m1", 1)])}, ["s1"]),
    }
    assert shape(await programme.gql("m2", BATCHES)) == {
        "B1": ({"B1-A": (["s2"], [("m2", 1)]), "B1-B": (["s1"], [("m2", 1)])}, ["s1", "s2"]),
    }
    ids = programme.ids
    visible = [ids["e_s1_ma"], ids["ma"], ids["b1"], ids["s1"], ids["a_m1_s1_ma"]]
    hidden = [
        ids["e_s2_ma"],
        ids["e_s1_mb"],
        ids["mb"],
        ids["mc"],
        ids["b2"],
        ids["s2"],
        ids["s3"],
        ids["e_s3_mc"],
        ids["a_m2_s1_mb"],
        ids["m2"],
    ]
    for node_id in visible:
        assert (await programme.gql("m1", NODE, {"id": node_id}))["data"]["node"] is not None
    for node_id in hidden:
        assert (await programme.gql("m1", NODE, {"id": node_id}))["data"]["node"] is None, node_id
    mentees = await programme.gql(
        "m2",
        "query($m: ID) { viewer { mentees(missionId: $m) { totalCount edges { node { "
        "student { email } } } } } }",
        {"m": ids["ma"]},
    )
    edges = mentees["data"]["viewer"]["mentees"]["edges"]
    assert [e["node"]["student"]["email"] for e in edges] == ["s2@example.org"]


async def test_a_student_sees_their_enrolments_and_their_mentors(programme: Programme) -> None:
    assert shape(await programme.gql("s1", BATCHES)) == {
        "B1": ({"B1-A": (["s1"], [("m1", None)]), "B1-B": (["s1"], [("m2", None)])}, ["s1"]),
    }
    ids = programme.ids
    own = await programme.gql(
        "s1",
        "{ viewer { enrollments { totalCount edges { node { mission { code } mentors "
        "{ email } } } } mentors { mission { code } mentor { email } } } }",
    )
    viewer = own["data"]["viewer"]
    assert viewer["enrollments"]["totalCount"] == 2
    assert sorted((m["mission"]["code"], m["mentor"]["email"]) for m in viewer["mentors"]) == [
        ("B1-A", "m1@example.org"),
        ("B1-B", "m2@example.org"),
    ]
    for node_id in [ids["m1"], ids["m2"], ids["e_s1_ma"], ids["mb"], ids["a_m1_s1_ma"]]:
        assert (await programme.gql("s1", NODE, {"id": node_id}))["data"]["node"] is not None
    for node_id in [ids["s2"], ids["e_s2_ma"], ids["mc"], ids["b2"], ids["s3"]]:
        assert (await programme.gql("s1", NODE, {"id": node_id}))["data"]["node"] is None


@pytest.mark.parametrize("who", ["alumnus", None])
async def test_outsiders_see_nothing(programme: Programme, who: str | None) -> None:
    body = await programme.gql(who or "nobody", BATCHES)
    assert body["data"]["batches"]["totalCount"] == 0
    for key in ("b1", "ma", "e_s1_ma", "a_m1_s1_ma"):
        node = await programme.gql(who or "nobody", NODE, {"id": programme.ids[key]})
        assert node["data"]["node"] is None


async def test_viewer_fields_are_only_for_the_viewer(programme: Programme) -> None:
    query = (
        "query($id: ID!) { node(id: $id) { ... on User { mentees { totalCount } "
        "enrollments { totalCount } mentors { id } } } }"
    )
    body = await programme.gql("admin", query, {"id": programme.ids["s1"]})
    assert body["data"]["node"] == {
        "mentees": {"totalCount": 0},
        "enrollments": {"totalCount": 0},
        "mentors": [],
    }


async def test_roster_filters_search_and_sorts(programme: Programme) -> None:
    api = programme.api
    ids = programme.ids
    for name in ("Zed Quill", "Abel Quill", "Mona Lark"):
        sid, _ = await api.create_user(
            f"{name.split()[0].lower()}@example.org", ["STUDENT"], name=name
        )
        await programme.gql(
            "sre",
            "mutation($m: ID!, $s: ID!) { enrollmentCreate(input: "
            "{missionId: $m, studentId: $s}) { created } }",
            {"m": ids["ma"], "s": sid},
        )
    query = """query($id: ID!, $f: EnrollmentFilter, $o: EnrollmentOrder) {
      node(id: $id) { ... on Mission { enrollments(filter: $f, orderBy: $o) {
        totalCount edges { node { status student { name } } } } } } }"""

    async def names(flt: dict | None = None, order: dict | None = None) -> list[str]:
        body = await programme.gql("sre", query, {"id": ids["ma"], "f": flt, "o": order})
        edges = body["data"]["node"]["enrollments"]["edges"]
        return [e["node"]["student"]["name"] for e in edges]

    assert await names({"search": "quill"}) == ["Abel Quill", "Zed Quill"]
    assert await names({"search": "LARK@EXAMPLE"}) == []  # e-mail is mona@example.org
    assert await names({"search": "mona@"}) == ["Mona Lark"]
    assert await names({"search": "quill"}, {"field": "STUDENT_NAME", "direction": "DESC"}) == [
        "Zed Quill",
        "Abel Quill",
    ]
    enrollment = await programme.gql("sre", query, {"id": ids["ma"], "f": {"search": "zed"}})
    assert enrollment["data"]["node"]["enrollments"]["totalCount"] == 1
    dropped = await programme.gql(
        "sre",
        "mutation($id: ID!) { enrollmentUpdate(input: {id: $id, status: DROPPED}) "
        "{ enrollment { status } userErrors { code } } }",
        {"id": ids["e_s2_ma"]},
    )
    assert dropped["data"]["enrollmentUpdate"]["enrollment"]["status"] == "DROPPED"
    assert await names({"status": ["DROPPED"]}) == ["S2 Person"]
    assert len(await names({"status": ["ACTIVE"]})) == 4
