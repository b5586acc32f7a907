"""Custom roles: admins make sets of permissions, give them everywhere or within one batch
or mission, and take them back; every check of a scopable permission on an object knows
the object's batch and mission. One programme per test (tests/cohorts/conftest.py): batch
B1 with missions B1-A and B1-B, batch B2 with mission B2-C."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from alumnet.persistence.db import sync_url
from tests.cohorts.conftest import Programme, programme  # noqa: F401 (a fixture)
from tests.conftest import Api

ROLE = """mutation($i: RoleCreateInput!) { roleCreate(input: $i) {
  role { id name permissions } userErrors { field code message } } }"""
UPDATE = """mutation($i: RoleUpdateInput!) { roleUpdate(input: $i) {
  role { id permissions } userErrors { field code message } } }"""
ASSIGN = """mutation($i: RoleAssignInput!) { roleAssign(input: $i) {
  assignment { id everywhere batch { code } mission { code } user { id } role { name } }
  userErrors { field code message } } }"""
REVOKE = """mutation($i: RoleRevokeInput!) { roleRevoke(input: $i) {
  assignment { id } userErrors { field code message } } }"""
DELETE = """mutation($i: RoleDeleteInput!) { roleDelete(input: $i) {
  deletedId userErrors { field code message } } }"""
CHECK = """query($u: ID!, $p: Permission!, $s: RoleScopeInput) {
  permissionCheck(userId: $u, permission: $p, scope: $s) { allowed reasons } }"""
BATCHES = "{ batches(first: 10) { edges { node { code } } } }"
ENROLL = """mutation($m: ID!, $s: ID!) { enrollmentCreate(input: {missionId: $m, studentId: $s})
  { enrollment { id } userErrors { code } } }"""
MENTOR = """mutation($m: ID!, $s: ID!, $t: ID!) { mentorAssign(input: {missionId: $m,
  studentId: $s, mentorId: $t}) { assignment { id } userErrors { code } } }"""
MISSION = """mutation($m: ID!) { missionUpdate(input: {id: $m, description: "Changed"})
  { mission { id } userErrors { code } } }"""
TASK = """mutation($m: ID!) { assignmentCreate(input: {missionId: $m, title: "Essay",
  dueAt: "2030-06-01T12:00:00Z"}) { assignment { id } userErrors { code } } }"""
FLAG = """mutation($e: ID!) { integrityFlagRaise(input: {enrollmentId: $e, kind: CHEATING,
  evidence: "Copied."}) { flag { id } userErrors { code } } }"""
DECIDE = """mutation($e: ID!) { integrityDecide(input: {enrollmentId: $e, kind: WARN,
  reason: "Be careful."}) { decision { id } userErrors { code } } }"""
APPEAL = """mutation($d: ID!) { appealSubmit(input: {decisionId: $d, statement: "Not me."})
  { appeal { id } userErrors { code } } }"""
FLAGS = "{ integrityFlags(first: 10) { edges { node { id } } } }"
CALLS = """mutation($m: ID, $b: ID, $to: ID) { callListGenerate(input: {missionId: $m,
  batchId: $b, assignedToId: $to}) { callList { id } userErrors { code } } }"""
NOTICE = """mutation($m: ID, $b: ID) { noticePost(input: {missionId: $m, batchId: $b,
  title: "Hello", body: "Welcome."}) { notice { id } userErrors { code } } }"""
SCOPED = [
    "COHORTS_READ",
    "COHORTS_MANAGE",
    "ENROLLMENTS_MANAGE",
    "MENTORS_ASSIGN",
    "ENGAGEMENT_MANAGE",
    "INTEGRITY_FLAG",
    "INTEGRITY_DECIDE",
    "OUTREACH",
    "NOTICES_POST",
]


async def _ok(p: Programme, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
    body = await p.gql(who, query, variables)
    assert "errors" not in body, body
    assert body["data"][key]["userErrors"] == [], body
    return body["data"][key]


async def _errors(p: Programme, who: str, query: str, variables: dict[str, Any]) -> list[str]:
    body = await p.gql(who, query, variables)
    if "errors" in body:
        return [e["extensions"]["code"] for e in body["errors"]]
    [payload] = body["data"].values()
    return [e["code"] for e in payload["userErrors"]]


def _audit(api: Api, action: str) -> list[dict[str, Any]]:
    engine = create_engine(sync_url(api.settings.database_url))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT details FROM audit_events WHERE action = :a ORDER BY id"), {"a": action}
        ).scalars()
        found = [d if isinstance(d, dict) else json.loads(d) for d in rows]
    engine.dispose()
    return found


async def _role(p: Programme, name: str, permissions: list[str]) -> str:
    made = await _ok(p, "admin", ROLE, {"i": {"name": name, "permissions": permissions}},
                     "roleCreate")  # fmt: skip
    return str(made["role"]["id"])


async def _coordinator(p: Programme, who: str, scope: dict[str, str] | None) -> str:
    """A new user holding every scopable permission within ``scope``; their token."""
    p.ids[who], p.tokens[who] = await p.api.create_user(f"{who}@example.org", ["ALUMNUS"])
    role = p.ids.get("role")
    if role is None:
        role = p.ids["role"] = await _role(p, "Coordinator", SCOPED)
    await _ok(p, "admin", ASSIGN, {"i": {"userId": p.ids[who], "roleId": role, "scope": scope}},
              "roleAssign")  # fmt: skip
    return p.tokens[who]


async def test_a_coordinator_of_one_batch_acts_there_and_nowhere_else(
    programme: Programme,  # noqa: F811
) -> None:
    p, ids = programme, programme.ids
    await _coordinator(p, "c1", {"batchId": ids["b1"]})
    # cohorts: the batch listed, its missions and enrolments managed; the other batch not.
    body = await p.gql("c1", BATCHES)
    assert [e["node"]["code"] for e in body["data"]["batches"]["edges"]] == ["B1"]
    assert await _errors(p, "c1", ENROLL, {"m": ids["mb"], "s": ids["s2"]}) == []
    assert await _errors(p, "c1", ENROLL, {"m": ids["mc"], "s": ids["s2"]}) == ["FORBIDDEN"]
    assert await _errors(p, "c1", MISSION, {"m": ids["ma"]}) == []
    assert await _errors(p, "c1", MISSION, {"m": ids["mc"]}) == ["FORBIDDEN"]
    mentor = {"s": ids["s2"], "t": ids["m1"]}
    assert await _errors(p, "c1", MENTOR, {**mentor, "m": ids["ma"]}) == []
    assert await _errors(p, "c1", MENTOR, {"m": ids["mc"], "s": ids["s3"], "t": ids["m1"]}) == [
        "FORBIDDEN"
    ]
    # engagement
    assert await _errors(p, "c1", TASK, {"m": ids["ma"]}) == []
    assert await _errors(p, "c1", TASK, {"m": ids["mc"]}) == ["FORBIDDEN"]
    # integrity: flags raised and decided in B1 only, and only B1's flags listed.
    assert await _errors(p, "c1", FLAG, {"e": ids["e_s1_ma"]}) == []
    assert await _errors(p, "c1", FLAG, {"e": ids["e_s3_mc"]}) == ["NOT_FOUND"]
    await _ok(p, "admin", FLAG, {"e": ids["e_s3_mc"]}, "integrityFlagRaise")
    body = await p.gql("c1", FLAGS)
    assert len(body["data"]["integrityFlags"]["edges"]) == 1, body
    body = await p.gql("manager", FLAGS)
    assert len(body["data"]["integrityFlags"]["edges"]) == 2, body
    decided = await _ok(p, "c1", DECIDE, {"e": ids["e_s1_ma"]}, "integrityDecide")
    assert await _errors(p, "c1", DECIDE, {"e": ids["e_s3_mc"]}) == ["FORBIDDEN"]
    other = await _ok(p, "admin", DECIDE, {"e": ids["e_s3_mc"]}, "integrityDecide")
    appealed = []
    for who, decision in [("s1", decided), ("s3", other)]:
        made = await _ok(p, who, APPEAL, {"d": decision["decision"]["id"]}, "appealSubmit")
        appealed.append(made["appeal"]["id"])
    body = await p.gql("c1", "{ appeals(first: 10) { edges { node { id } } } }")
    assert [e["node"]["id"] for e in body["data"]["appeals"]["edges"]] == appealed[:1]
    body = await p.gql("c1", "query($i: [ID!]!) { nodes(ids: $i) { id } }", {"i": appealed})
    assert body["data"]["nodes"] == [{"id": appealed[0]}, None]
    # Those who decide integrity cases are told of flags and appeals: c1 of B1's only.
    told = await p.gql("c1", "{ notifications(first: 50) { edges { node { kind title } } } }")
    reviews = [
        e["node"]["title"] for e in told["data"]["notifications"]["edges"]
        if e["node"]["kind"] == "REVIEW"
    ]  # fmt: skip
    assert reviews and all("S1 Person" in t for t in reviews), reviews
    # outreach
    sre = ids["sre"]
    assert await _errors(p, "c1", CALLS, {"b": ids["b1"], "to": sre}) == []
    assert await _errors(p, "c1", CALLS, {"m": ids["ma"], "to": sre}) == []
    assert await _errors(p, "c1", CALLS, {"b": ids["b2"], "to": sre}) == ["FORBIDDEN"]
    assert await _errors(p, "c1", CALLS, {"m": ids["mc"], "to": sre}) == ["FORBIDDEN"]
    await _ok(p, "admin", CALLS, {"b": ids["b2"], "to": sre}, "callListGenerate")
    lists = "{ callLists(mine: false, first: 10) { totalCount } }"
    for who, seen in [("c1", 2), ("manager", 3)]:
        body = await p.gql(who, lists)
        assert body["data"]["callLists"]["totalCount"] == seen, (who, body)
    # A follow-up of their batch is theirs to read by id too (s1 at risk in B1-A).
    from tests.integrity.test_outreach import at_risk_programme

    await at_risk_programme(p)
    made = await _ok(p, "c1", CALLS, {"m": ids["ma"], "to": sre}, "callListGenerate")
    log = """mutation($i: CallLogRecordInput!) { callLogRecord(input: $i) {
      followUp { id } userErrors { code } } }"""
    logged = await _ok(
        p, "c1", log,
        {"i": {"callListId": made["callList"]["id"], "studentId": ids["s1"],
               "outcome": "RESCHEDULE", "followUpOn": "2030-01-02"}},
        "callLogRecord",
    )  # fmt: skip
    follow_up = {"i": logged["followUp"]["id"]}
    by_id = "query($i: ID!) { node(id: $i) { id } }"
    assert (await p.gql("c1", by_id, follow_up))["data"]["node"] == {"id": follow_up["i"]}
    assert (await p.gql("s1", by_id, follow_up))["data"]["node"] is None
    # communication
    assert await _errors(p, "c1", NOTICE, {"b": ids["b1"]}) == []
    assert await _errors(p, "c1", NOTICE, {"m": ids["mb"]}) == []
    assert await _errors(p, "c1", NOTICE, {"b": ids["b2"]}) == ["FORBIDDEN"]
    assert await _errors(p, "c1", NOTICE, {"m": ids["mc"]}) == ["NOT_FOUND"]
    await _ok(p, "admin", NOTICE, {"b": ids["b2"]}, "noticePost")
    notices = "{ notices(first: 10) { totalCount } }"
    for who, seen in [("c1", 2), ("manager", 3)]:
        body = await p.gql(who, notices)
        assert body["data"]["notices"]["totalCount"] == seen, (who, body)


async def test_a_coordinator_of_one_mission_acts_in_it_not_in_its_batch(
    programme: Programme,  # noqa: F811
) -> None:
    p, ids = programme, programme.ids
    await _coordinator(p, "c2", {"missionId": ids["ma"]})
    body = await p.gql("c2", BATCHES)
    assert [e["node"]["code"] for e in body["data"]["batches"]["edges"]] == ["B1"]
    body = await p.gql(
        "c2",
        "query($b: ID!) { node(id: $b) { ... on Batch { missions(first: 5) "
        "{ edges { node { code } } } } } }",
        {"b": ids["b1"]},
    )
    assert [e["node"]["code"] for e in body["data"]["node"]["missions"]["edges"]] == ["B1-A"]
    assert await _errors(p, "c2", ENROLL, {"m": ids["ma"], "s": ids["s3"]}) == []
    assert await _errors(p, "c2", ENROLL, {"m": ids["mb"], "s": ids["s3"]}) == ["FORBIDDEN"]
    assert await _errors(p, "c2", NOTICE, {"b": ids["b1"]}) == ["FORBIDDEN"]
    assert await _errors(p, "c2", NOTICE, {"m": ids["ma"]}) == []
    # A scoped grant costs one more statement only for those who hold one.
    count, _ = await p.api.sql_count("{ viewer { id } }", token=p.tokens["c2"])
    plain, _ = await p.api.sql_count("{ viewer { id } }", token=p.tokens["s1"])
    assert count == plain


async def test_roles_are_made_given_explained_and_taken_back_with_an_audit(
    programme: Programme,  # noqa: F811
) -> None:
    p, ids, api = programme, programme.ids, programme.api
    token = await _coordinator(p, "c3", {"batchId": ids["b1"]})
    role = ids["role"]
    # The same name in another case, an unscopable permission within a batch, two scopes.
    taken = {"i": {"name": "COORDINATOR", "permissions": ["OUTREACH"]}}
    assert await _errors(p, "admin", ROLE, taken) == ["NAME_TAKEN"]
    reader_id = await _role(p, "Reader", ["USERS_READ"])
    within_b1 = {"batchId": ids["b1"]}
    given = {"userId": ids["c3"], "roleId": reader_id, "scope": within_b1}
    assert await _errors(p, "admin", ASSIGN, {"i": given}) == ["UNSCOPABLE_PERMISSION"]
    both = {"batchId": ids["b1"], "missionId": ids["ma"]}
    given = {"userId": ids["c3"], "roleId": role, "scope": both}
    assert await _errors(p, "admin", ASSIGN, {"i": given}) == ["INVALID_SCOPE"]
    # Not an admin: refused outright.
    assert await _errors(p, "manager", ROLE, {"i": {"name": "X", "permissions": ["OUTREACH"]}}) == [
        "FORBIDDEN"
    ]
    # A delegate who may assign roles but holds cohorts:read only within B1 grants no more.
    delegate_id = await _role(p, "Delegate", ["ROLES_ASSIGN"])
    looker_id = await _role(p, "Looker", ["COHORTS_READ"])
    for rid, scope in [(delegate_id, None), (looker_id, within_b1)]:
        given = {"userId": ids["c3"], "roleId": rid, "scope": scope}
        await _ok(p, "admin", ASSIGN, {"i": given}, "roleAssign")
    assert await _errors(p, "c3", ROLE, {"i": {"name": "Big", "permissions": ["AUDIT_READ"]}}) == [
        "PERMISSION_NOT_HELD"
    ]
    assert await _errors(
        p, "c3", ASSIGN,
        {"i": {"userId": ids["s3"], "roleId": looker_id, "scope": {"batchId": ids["b2"]}}},
    ) == ["SCOPE_NOT_HELD"]  # fmt: skip
    assert await _errors(
        p, "c3", ASSIGN,
        {"i": {"userId": ids["s3"], "roleId": looker_id, "scope": {"missionId": ids["mb"]}}},
    ) == []  # fmt: skip
    # Nor built-in roles beyond their own (roles:assign is no longer the ADMIN's only).
    built_in = "mutation($u: ID!, $r: [Role!]!) { userRolesSet(input: {id: $u, roles: $r}) "
    built_in += "{ user { id } userErrors { code } } }"
    assert await _errors(p, "c3", built_in, {"u": ids["alumnus"], "r": ["ADMIN"]}) == ["FORBIDDEN"]
    # Only built-in roles they hold themselves (c3 is an alumnus).
    both = {"u": ids["alumnus"], "r": ["ALUMNUS", "STUDENT"]}
    assert await _errors(p, "c3", built_in, both) == ["FORBIDDEN"]
    graduated = {"u": ids["s3"], "r": ["STUDENT", "ALUMNUS"]}
    assert await _errors(p, "c3", built_in, graduated) == []
    refused = _audit(api, "custom_role.refused")
    assert [(r["attempt"], r["not_held"]) for r in refused] == [
        ("create", ["audit:read"]),
        ("assign", ["cohorts:read"]),
    ]
    # Why can or can't they?
    check = {"u": ids["c3"], "p": "COHORTS_READ"}
    body = await p.gql("admin", CHECK, {**check, "s": {"batchId": ids["b2"]}})
    answer = body["data"]["permissionCheck"]
    assert answer["allowed"] is False
    assert any("only within batch B1" in r for r in answer["reasons"]), answer
    body = await p.gql("admin", CHECK, {**check, "s": {"missionId": ids["ma"]}})
    assert body["data"]["permissionCheck"]["allowed"] is True
    body = await p.gql("manager", CHECK, {**check, "p": "USERS_READ"})
    assert body["data"]["permissionCheck"] == {
        "allowed": False,
        "reasons": ["None of their roles, built-in or custom, grants users:read."],
    }
    assert await _errors(p, "s1", CHECK, check) == ["FORBIDDEN"]
    # Their assignments: for themselves and for user readers, not for other students.
    mine = (
        "query($u: ID!) { node(id: $u) { ... on User { customRoles(first: 10) { totalCount } } } }"
    )
    for who, seen in [("c3", 3), ("manager", 3)]:
        body = await p.gql(who, mine, {"u": ids["c3"]})
        assert body["data"]["node"]["customRoles"]["totalCount"] == seen, body
    body = await p.gql("admin", "{ customRoles(first: 10) { edges { node { name "
                       "assignments(first: 10) { totalCount } } } } }")  # fmt: skip
    assert [(e["node"]["name"], e["node"]["assignments"]["totalCount"])
            for e in body["data"]["customRoles"]["edges"]] == [
        ("Coordinator", 1), ("Delegate", 1), ("Looker", 2), ("Reader", 0)]  # fmt: skip
    assert await _errors(p, "s1", "{ customRoles(first: 10) { totalCount } }", {}) == ["FORBIDDEN"]
    body = await p.gql("s2", mine, {"u": ids["c3"]})
    assert body["data"]["node"] is None or body["data"]["node"]["customRoles"]["totalCount"] == 0
    # Changing the role changes every holder's power at once (the cache forgets them).
    assert await _errors(p, "c3", ENROLL, {"m": ids["ma"], "s": ids["s3"]}) == []
    await _ok(p, "admin", UPDATE, {"i": {"id": role, "permissions": ["COHORTS_READ"]}},
              "roleUpdate")  # fmt: skip
    assert await _errors(p, "c3", ENROLL, {"m": ids["mb"], "s": ids["s3"]}) == ["FORBIDDEN"]
    [updated] = _audit(api, "custom_role.update")
    assert updated["permissions"]["added"] == []
    assert "enrollments:manage" in updated["permissions"]["removed"]
    # Taken back: by user, role and scope; again is NOT_FOUND.
    revoke = {"userId": ids["c3"], "roleId": role, "scope": {"batchId": ids["b1"]}}
    await _ok(p, "admin", REVOKE, {"i": revoke}, "roleRevoke")
    assert await _errors(p, "admin", REVOKE, {"i": revoke}) == ["NOT_FOUND"]
    body = await api.gql(BATCHES, token=token)
    assert [e["node"]["code"] for e in body["data"]["batches"]["edges"]] == ["B1"]  # Looker
    [revoked] = _audit(api, "custom_role.revoke")
    assert revoked["permissions"] == {"added": [], "removed": ["cohorts:read"]}
    await _ok(p, "admin", DELETE, {"i": {"id": looker_id}}, "roleDelete")
    body = await api.gql(BATCHES, token=token)
    assert body["data"]["batches"]["edges"] == []
    assert len(_audit(api, "custom_role.assign")) == 4
    assert len(_audit(api, "custom_role.delete")) == 1


async def test_unknown_permissions_are_refused_and_nothing_is_written(api: Api) -> None:
    from alumnet.domain.errors import DomainError
    from alumnet.domain.identity import roles
    from alumnet.domain.identity.permissions import Role, Viewer
    from alumnet.persistence.models import CustomRole

    runtime = api.app.state.runtime
    admin = Viewer(user_id=1, roles=frozenset({Role.ADMIN}), via="cli")
    await api.create_user("root@example.org", ["ADMIN"])
    with pytest.raises(DomainError) as refused:
        async with runtime.transaction() as uow:
            await roles.create_role(
                runtime, uow, admin, name="Odd", description=None,
                permissions=["cohorts:read", "cohorts:fly"],
            )  # fmt: skip
    problems = [(p.code, p.field) for p in refused.value.problems]
    assert problems == [("UNKNOWN_PERMISSION", ("permissions", "1"))]
    async with runtime.transaction() as uow:
        assert (await uow.session.execute(select(CustomRole))).first() is None
    body = await api.gql(
        'mutation { roleCreate(input: {name: "X", permissions: [FLY]}) { role { id } } }'
    )
    assert body["errors"]


async def test_a_delegate_gives_and_takes_only_what_they_hold(
    programme: Programme,  # noqa: F811
) -> None:
    """roles:assign given by a custom role: no built-in role the delegate does not hold
    (a role's powers go beyond its permissions), and no custom role taken back, stripped
    or deleted where the delegate does not hold its permissions."""
    p, ids = programme, programme.ids
    p.ids["d"], p.tokens["d"] = await p.api.create_user("d@example.org", ["ALUMNUS"])
    delegate = await _role(p, "Delegate", ["ROLES_ASSIGN", "COHORTS_READ"])
    await _ok(p, "admin", ASSIGN, {"i": {"userId": ids["d"], "roleId": delegate}}, "roleAssign")
    roles_set = """mutation($u: ID!, $r: [Role!]!) { userRolesSet(input: {id: $u, roles: $r})
      { userErrors { code } } }"""
    # A built-in role the delegate does not hold, given or taken: refused; and one's own
    # roles may change within what one holds (no ADMIN to lose).
    assert await _errors(p, "d", roles_set, {"u": ids["s3"], "r": ["STUDENT", "SRE"]}) == [
        "FORBIDDEN"
    ]
    assert await _errors(p, "d", roles_set, {"u": ids["d"], "r": ["ALUMNUS"]}) == []
    # An admin's role with powers the delegate lacks: not taken back, changed or deleted.
    powerful = await _role(p, "Auditor", ["AUDIT_READ", "USERS_MANAGE"])
    given = await _ok(
        p, "admin", ASSIGN, {"i": {"userId": ids["s3"], "roleId": powerful}}, "roleAssign"
    )
    assignment = given["assignment"]["id"]
    assert await _errors(p, "d", REVOKE, {"i": {"assignmentId": assignment}}) == ["SCOPE_NOT_HELD"]
    assert await _errors(
        p, "d", UPDATE, {"i": {"id": powerful, "permissions": ["AUDIT_READ"]}}
    ) == ["PERMISSION_NOT_HELD"]
    assert await _errors(p, "d", DELETE, {"i": {"id": powerful}}) == ["PERMISSION_NOT_HELD"]
    refused = [d["attempt"] for d in _audit(p.api, "custom_role.refused")]
    assert refused == ["revoke", "update", "delete"]
    # The admin still may.
    assert await _errors(p, "admin", REVOKE, {"i": {"assignmentId": assignment}}) == []
    assert await _errors(p, "admin", DELETE, {"i": {"id": powerful}}) == []
