"""Follow-up tasks on inquiries: added, changed, done, reopened and deleted through GraphQL by
holders of `admissions`, with their timeline entries; bad input refused with nothing written;
reminders sent once by the job; seen by nobody else."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from alumnet.domain.admissions import tasks
from alumnet.persistence.models import (
    Inquiry,
    InquiryActivity,
    InquiryTask,
    Notification,
    User,
    UserRole,
)
from alumnet.workers import schedule
from tests.admissions.conftest import Admissions, codes, gid, pk_of

FIELDS = """id inquiryId inquiryName title dueAt doneAt overdue remindedAt createdAt
  assigneeId assignee { id name }"""
ERRORS = "userErrors { field code message }"
CREATE = f"""mutation($input: InquiryTaskCreateInput!) {{ inquiryTaskCreate(input: $input) {{
  inquiryTask {{ {FIELDS} }} {ERRORS} }} }}"""
UPDATE = f"""mutation($input: InquiryTaskUpdateInput!) {{ inquiryTaskUpdate(input: $input) {{
  inquiryTask {{ {FIELDS} }} {ERRORS} }} }}"""
COMPLETE = f"""mutation($id: ID!) {{ inquiryTaskComplete(input: {{id: $id}}) {{
  inquiryTask {{ {FIELDS} }} {ERRORS} }} }}"""
REOPEN = f"""mutation($id: ID!) {{ inquiryTaskReopen(input: {{id: $id}}) {{
  inquiryTask {{ {FIELDS} }} {ERRORS} }} }}"""
DELETE = (
    f"""mutation($id: ID!) {{ inquiryTaskDelete(input: {{id: $id}}) {{ deletedId {ERRORS} }} }}"""
)
NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on InquiryTask {{ {FIELDS} }} }} }}"""
LIST = f"""query($filter: InquiryTaskFilter, $n: Int) {{ inquiryTasks(filter: $filter, first: $n) {{
  totalCount edges {{ node {{ {FIELDS} }} }} }} }}"""
MINE = """query($open: Boolean) { myInquiryTasks(open: $open) { totalCount
  edges { node { title } } } }"""

OUTSIDERS = ("faculty", "sre", "student", "alumnus")


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def add_inquiry(a: Admissions, name: str, counsellor: str | None = None) -> str:
    async with a.runtime.transaction() as uow:
        inquiry = Inquiry(
            name=name, email=f"{name.lower()}@example.com", source="web_form",
            counsellor_id=a.pks[counsellor] if counsellor else None, score_reasons=[],
        )  # fmt: skip
        uow.session.add(inquiry)
        await uow.session.flush()
        return gid("Inquiry", int(inquiry.id))


async def add_task(a: Admissions, who: str = "counsellor", **given: Any) -> dict[str, Any]:
    payload = await a.ok(who, CREATE, {"input": given}, "inquiryTaskCreate")
    return payload["inquiryTask"]  # type: ignore[no-any-return]


async def counts(a: Admissions) -> tuple[int, int]:
    """Tasks, and task entries on timelines."""
    async with a.runtime.database.connect() as conn:
        made = (await conn.execute(select(func.count()).select_from(InquiryTask))).scalar_one()
        told = await conn.execute(select(func.count()).where(InquiryActivity.kind == "task"))
        return int(made), int(told.scalar_one())


async def notified(a: Admissions, who: str) -> list[str]:
    async with a.runtime.database.connect() as conn:
        found = await conn.execute(
            select(Notification.title)
            .where(Notification.user_id == a.pks[who], Notification.kind == "admissions",
                   Notification.subject_type == "InquiryTask")
            .order_by(Notification.id)
        )  # fmt: skip
        return [str(t) for t in found.scalars()]


async def test_tasks_are_added_changed_done_and_deleted(admissions: Admissions) -> None:
    a = admissions
    inquiry = await add_inquiry(a, "Asha", counsellor="counsellor2")
    due = now() + timedelta(days=2)
    # By default, the inquiry's counsellor does it, and is told at once.
    task = await add_task(a, inquiryId=inquiry, title="  Call   back ", dueAt=iso(due))
    assert task["title"] == "Call back"
    assert task["inquiryId"] == inquiry and task["inquiryName"] == "Asha"
    assert task["assigneeId"] == a.ids["counsellor2"]
    assert task["assignee"] == {"id": a.ids["counsellor2"], "name": "Counsellor2 Person"}
    assert task["doneAt"] is None and task["overdue"] is False and task["remindedAt"] is None
    assert await notified(a, "counsellor2") == ["A follow-up for you: Call back"]
    # Without a counsellor on the inquiry, the one who adds it; nobody is told.
    alone = await add_inquiry(a, "Bilal")
    mine = await add_task(a, inquiryId=alone, title="Send brochure", dueAt=iso(due))
    assert mine["assigneeId"] == a.ids["counsellor"]
    assert await notified(a, "counsellor") == []
    assert await counts(a) == (2, 2)

    # A reminder sent, then the due time moved: reminded again later.
    async with a.runtime.transaction() as uow:
        row = await uow.session.get(InquiryTask, pk_of(task["id"]))
        assert row is not None
        row.reminded_at = now()
    later = now() + timedelta(days=5)
    payload = await a.ok("counsellor", UPDATE, {"input": {"id": task["id"], "title": "Call",
                                                          "dueAt": iso(later)}},
                         "inquiryTaskUpdate")  # fmt: skip
    changed = payload["inquiryTask"]
    assert changed["title"] == "Call" and changed["remindedAt"] is None
    assert datetime.fromisoformat(changed["dueAt"]) == later.replace(microsecond=later.microsecond)
    # Handed over: the new assignee is told.
    payload = await a.ok("manager", UPDATE, {"input": {"id": task["id"],
                                                       "assigneeId": a.ids["counsellor"]}},
                         "inquiryTaskUpdate")  # fmt: skip
    assert payload["inquiryTask"]["assigneeId"] == a.ids["counsellor"]
    assert await notified(a, "counsellor") == ["A follow-up for you: Call"]

    # Done, done again (nothing more), refused changes while done, reopened.
    done = await a.ok("counsellor", COMPLETE, {"id": task["id"]}, "inquiryTaskComplete")
    assert done["inquiryTask"]["doneAt"] is not None
    again = await a.ok("counsellor", COMPLETE, {"id": task["id"]}, "inquiryTaskComplete")
    assert again["inquiryTask"]["doneAt"] == done["inquiryTask"]["doneAt"]
    assert await counts(a) == (2, 3)
    body = await a.gql("counsellor", UPDATE, {"input": {"id": task["id"], "title": "X"}})
    assert codes(body["data"]["inquiryTaskUpdate"]) == ["WRONG_STATUS"]
    reopened = await a.ok("admin", REOPEN, {"id": task["id"]}, "inquiryTaskReopen")
    assert reopened["inquiryTask"]["doneAt"] is None
    async with a.runtime.database.connect() as conn:
        summaries = (
            await conn.execute(
                select(InquiryActivity.summary)
                .where(InquiryActivity.inquiry_id == pk_of(inquiry))
                .order_by(InquiryActivity.id)
            )
        ).scalars().all()  # fmt: skip
    assert summaries[0].startswith("Task added: Call back (due ")
    assert summaries[1:] == ["Task done: Call", "Task reopened: Call"]

    # Deleted: gone.
    gone = await a.ok("counsellor", DELETE, {"id": task["id"]}, "inquiryTaskDelete")
    assert gone["deletedId"] == task["id"]
    assert (await a.gql("counsellor", NODE, {"id": task["id"]}))["data"]["node"] is None
    body = await a.gql("counsellor", DELETE, {"id": task["id"]})
    assert codes(body["data"]["inquiryTaskDelete"]) == ["NOT_FOUND"]
    assert body["data"]["inquiryTaskDelete"]["deletedId"] is None


async def test_bad_input_is_refused_and_writes_nothing(admissions: Admissions) -> None:
    a = admissions
    inquiry = await add_inquiry(a, "Chen", counsellor="counsellor")
    due = iso(now() + timedelta(hours=3))
    for given, code, field in [
        ({"title": "  "}, "REQUIRED", "title"),
        ({"title": "x" * 201}, "TOO_LONG", "title"),
        ({"title": "a\u202eb"}, "INVALID", "title"),
        ({"dueAt": iso(now() - timedelta(days=2))}, "OUT_OF_RANGE", "dueAt"),
        ({"dueAt": iso(now() + timedelta(days=800))}, "OUT_OF_RANGE", "dueAt"),
        ({"assigneeId": a.ids["faculty"]}, "NOT_COUNSELLOR", "assigneeId"),
        ({"assigneeId": a.ids["student"]}, "NOT_COUNSELLOR", "assigneeId"),
        ({"assigneeId": gid("Programme", a.pks["programme"])}, "NOT_COUNSELLOR", "assigneeId"),
        ({"inquiryId": gid("Inquiry", 999_999)}, "NOT_FOUND", "inquiryId"),
        ({"inquiryId": a.ids["student"]}, "NOT_FOUND", "inquiryId"),
    ]:
        sent = {"inquiryId": inquiry, "title": "Call", "dueAt": due, **given}
        body = await a.gql("counsellor", CREATE, {"input": sent})
        payload = body["data"]["inquiryTaskCreate"]
        assert payload["inquiryTask"] is None, given
        assert codes(payload) == [code], (given, payload)
        assert payload["userErrors"][0]["field"] == ["input", field]
    # Several problems at once are all reported.
    body = await a.gql("counsellor", CREATE, {"input": {
        "inquiryId": inquiry, "title": "", "dueAt": iso(now() - timedelta(days=3))}})  # fmt: skip
    assert sorted(codes(body["data"]["inquiryTaskCreate"])) == ["OUT_OF_RANGE", "REQUIRED"]
    assert await counts(a) == (0, 0)

    # Within limits: nearly a day ago, nearly two years ahead, a manager as assignee.
    await add_task(a, inquiryId=inquiry, title="Late note", dueAt=iso(now() - timedelta(hours=23)))
    task = await add_task(a, inquiryId=inquiry, title="Far", dueAt=iso(now() + timedelta(days=700)),
                          assigneeId=a.ids["manager"])  # fmt: skip
    assert task["assigneeId"] == a.ids["manager"]
    before = (await a.gql("counsellor", NODE, {"id": task["id"]}))["data"]
    for given, code in [
        ({"title": ""}, "REQUIRED"),
        ({"dueAt": iso(now() - timedelta(days=2))}, "OUT_OF_RANGE"),
        ({"assigneeId": a.ids["sre"]}, "NOT_COUNSELLOR"),
    ]:
        body = await a.gql("counsellor", UPDATE, {"input": {"id": task["id"], **given}})
        assert codes(body["data"]["inquiryTaskUpdate"]) == [code], given
    for mutation in (UPDATE, COMPLETE, REOPEN, DELETE):
        wrong = gid("Inquiry", pk_of(task["id"]))
        variables = {"input": {"id": wrong, "title": "X"}} if mutation == UPDATE else {"id": wrong}
        body = await a.gql("counsellor", mutation, variables)
        assert codes(next(iter(body["data"].values()))) == ["NOT_FOUND"]
    assert (await a.gql("counsellor", NODE, {"id": task["id"]}))["data"] == before
    assert await counts(a) == (2, 2)


async def test_reminders_are_sent_once(admissions: Admissions) -> None:
    a = admissions
    inquiry = await add_inquiry(a, "Dana", counsellor="counsellor")
    soon = await add_task(
        a, inquiryId=inquiry, title="Soon", dueAt=iso(now() + timedelta(minutes=30))
    )
    late = await add_task(a, inquiryId=inquiry, title="Late", dueAt=iso(now() - timedelta(hours=2)))
    later = await add_task(
        a, inquiryId=inquiry, title="Later", dueAt=iso(now() + timedelta(hours=3))
    )
    done = await add_task(a, inquiryId=inquiry, title="Done", dueAt=iso(now() - timedelta(hours=1)))
    await a.ok("counsellor", COMPLETE, {"id": done["id"]}, "inquiryTaskComplete")
    other = await add_task(a, inquiryId=inquiry, title="Theirs", assigneeId=a.ids["counsellor2"],
                           dueAt=iso(now() - timedelta(minutes=5)))  # fmt: skip
    assert late["overdue"] is True and soon["overdue"] is False

    # The scheduled job, twice: each due task's assignee reminded once.
    assert any(name == tasks.REMINDERS_JOB for name, _, _ in schedule.SCHEDULE)
    assert (tasks.REMINDERS_JOB, {}) in schedule.AT_START
    for _ in range(2):
        await schedule.record(a.runtime, tasks.REMINDERS_JOB, {})
        await a.api.run_jobs()
    assert await notified(a, "counsellor") == ["Due soon: Soon", "Overdue: Late"]
    assert await notified(a, "counsellor2") == ["A follow-up for you: Theirs", "Overdue: Theirs"]
    for task, reminded in ((soon, True), (late, True), (later, False), (done, False),
                           (other, True)):  # fmt: skip
        node = (await a.gql("counsellor", NODE, {"id": task["id"]}))["data"]["node"]
        assert (node["remindedAt"] is not None) == reminded, task["title"]
    assert (await tasks.remind(a.runtime))["tasks"] == 0

    # An hour on, the third falls due; moving a reminded one's due time makes it due again.
    ran = await tasks.remind(a.runtime, now() + timedelta(hours=2, minutes=30))
    assert ran == {"tasks": 1, "reminded": 1}
    await a.ok("counsellor", UPDATE, {"input": {"id": soon["id"],
                                               "dueAt": iso(now() + timedelta(minutes=10))}},
               "inquiryTaskUpdate")  # fmt: skip
    assert (await tasks.remind(a.runtime))["tasks"] == 1
    assert await notified(a, "counsellor") == [
        "Due soon: Soon", "Overdue: Late", "Due soon: Later", "Due soon: Soon"]  # fmt: skip


async def test_lists_filter_and_keep_their_statements(admissions: Admissions) -> None:
    a = admissions
    first = await add_inquiry(a, "Eve", counsellor="counsellor")
    second = await add_inquiry(a, "Femi", counsellor="counsellor2")
    made = {}
    for title, inquiry, hours, who in [
        ("Overdue call", first, -3, None), ("Tomorrow", first, 24, None),
        ("Next week", second, 24 * 7, None), ("Other's", first, 5, "counsellor2"),
    ]:  # fmt: skip
        extra = {"assigneeId": a.ids[who]} if who else {}
        due = iso(now() + timedelta(hours=hours))
        made[title] = await add_task(a, inquiryId=inquiry, title=title, dueAt=due, **extra)
    await a.ok("counsellor", COMPLETE, {"id": made["Tomorrow"]["id"]}, "inquiryTaskComplete")

    async def titles(filter: dict[str, Any] | None, who: str = "counsellor") -> list[str]:
        body = await a.gql(who, LIST, {"filter": filter})
        assert "errors" not in body, body
        return [e["node"]["title"] for e in body["data"]["inquiryTasks"]["edges"]]

    # Due first.
    assert await titles(None) == ["Overdue call", "Other's", "Tomorrow", "Next week"]
    assert await titles({"inquiryId": second}) == ["Next week"]
    assert await titles({"assigneeId": a.ids["counsellor2"]}) == ["Other's", "Next week"]
    assert await titles({"open": True}) == ["Overdue call", "Other's", "Next week"]
    assert await titles({"open": False}) == ["Tomorrow"]
    assert await titles({"overdue": True}) == ["Overdue call"]
    assert await titles({"overdue": False}) == ["Other's", "Tomorrow", "Next week"]
    before = iso(now() + timedelta(hours=30))
    assert await titles({"dueBefore": before, "open": True}) == ["Overdue call", "Other's"]
    assert await titles({"inquiryId": a.ids["student"]}) == []
    assert await titles(None, "manager") == await titles(None, "admin") == await titles(None)
    body = await a.gql("counsellor", MINE, {})
    assert [e["node"]["title"] for e in body["data"]["myInquiryTasks"]["edges"]] == ["Overdue call"]
    body = await a.gql("counsellor", MINE, {"open": None})
    assert body["data"]["myInquiryTasks"]["totalCount"] == 2
    body = await a.gql("counsellor2", MINE, {"open": False})
    assert body["data"]["myInquiryTasks"]["totalCount"] == 0

    # The statements of a page do not grow with its tasks (names, assignees included).
    few, small = await a.api.sql_count(LIST, {"n": 2}, a.tokens["admin"])
    for i in range(8):
        guest = await add_inquiry(a, f"Guest {i}", counsellor="counsellor2")
        due = iso(now() + timedelta(days=3, hours=i))
        await add_task(a, inquiryId=guest, title=f"Task {i}", dueAt=due)
    many, large = await a.api.sql_count(LIST, {"n": 10}, a.tokens["admin"])
    assert "errors" not in large, large
    edges = large["data"]["inquiryTasks"]["edges"]
    assert len(small["data"]["inquiryTasks"]["edges"]) == 2 and len(edges) == 10
    assert edges[0]["node"]["assignee"]["name"] == "Counsellor Person"
    assert {e["node"]["inquiryName"] for e in edges} >= {"Eve", "Guest 0"}
    assert many == few, (few, many)


async def test_only_admissions_holders_see_or_change_tasks(admissions: Admissions) -> None:
    a = admissions
    inquiry = await add_inquiry(a, "Gita", counsellor="counsellor")
    task = await add_task(a, inquiryId=inquiry, title="Call", dueAt=iso(now() + timedelta(hours=5)))
    # A colleague is shown to every counsellor (as on an inquiry).
    seen = (await a.gql("counsellor2", NODE, {"id": task["id"]}))["data"]["node"]
    assert seen["assignee"]["name"] == "Counsellor Person" and seen["title"] == "Call"
    for who in ("manager", "admin"):
        assert (await a.gql(who, NODE, {"id": task["id"]}))["data"]["node"]["id"] == task["id"]
    for who in (*OUTSIDERS, None):
        assert (await a.gql(who, NODE, {"id": task["id"]}))["data"]["node"] is None, who
        expected = "UNAUTHENTICATED" if who is None else "FORBIDDEN"
        for query, variables in [
            (LIST, {}), (MINE, {}),
            (CREATE, {"input": {"inquiryId": inquiry, "title": "X",
                                "dueAt": iso(now() + timedelta(hours=1))}}),
            (UPDATE, {"input": {"id": task["id"], "title": "Hijacked"}}),
            (COMPLETE, {"id": task["id"]}), (REOPEN, {"id": task["id"]}),
            (DELETE, {"id": task["id"]}),
        ]:  # fmt: skip
            body = await a.gql(who, query, variables)
            assert body["errors"][0]["extensions"]["code"] == expected, (who, query)
    after = (await a.gql("counsellor", NODE, {"id": task["id"]}))["data"]["node"]
    assert after["title"] == "Call" and after["doneAt"] is None
    assert await counts(a) == (1, 1)


async def test_an_idempotency_key_returns_the_first_task(admissions: Admissions) -> None:
    a = admissions
    inquiry = await add_inquiry(a, "Hana", counsellor="counsellor2")
    due = iso(now() + timedelta(days=1))
    sent = {"inquiryId": inquiry, "title": "Call", "dueAt": due, "idempotencyKey": "k-1"}
    first = await add_task(a, **sent)
    # Sent again (an assignee not given matches; one given must be the same): the same task,
    # nothing written, nobody told twice.
    assert (await add_task(a, **sent))["id"] == first["id"]
    again = await add_task(a, **sent, assigneeId=a.ids["counsellor2"])
    assert again["id"] == first["id"]
    assert await counts(a) == (1, 1)
    assert await notified(a, "counsellor2") == ["A follow-up for you: Call"]
    # Different content with the key: a conflict, nothing written.
    for changed in ({"title": "Email"}, {"dueAt": iso(now() + timedelta(days=2))},
                    {"assigneeId": a.ids["counsellor"]},
                    {"inquiryId": await add_inquiry(a, "Ivo")}):  # fmt: skip
        body = await a.gql("counsellor", CREATE, {"input": {**sent, **changed}})
        payload = body["data"]["inquiryTaskCreate"]
        assert payload["inquiryTask"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])], changed  # fmt: skip
    body = await a.gql("counsellor", CREATE, {"input": {**sent, "idempotencyKey": "x" * 201}})
    assert codes(body["data"]["inquiryTaskCreate"]) == ["INVALID"]
    assert await counts(a) == (1, 1)
    # Keys are each creator's own: a colleague's same key makes their own task.
    theirs = await add_task(a, "counsellor2", **sent)
    assert theirs["id"] != first["id"]
    # Sent at once, several times: one task.
    race = {**sent, "idempotencyKey": "k-race"}
    bodies = await asyncio.gather(*(a.gql("manager", CREATE, {"input": race}) for _ in range(5)))
    made = {b["data"]["inquiryTaskCreate"]["inquiryTask"]["id"] for b in bodies}
    assert len(made) == 1, bodies
    assert await counts(a) == (3, 3)


async def test_reminders_skip_who_left_admissions(admissions: Admissions) -> None:
    a = admissions
    for who in ("gone", "moved"):
        a.ids[who], a.tokens[who] = await a.api.create_user(f"{who}@example.org", ["ADMISSIONS"])
        a.pks[who] = pk_of(a.ids[who])
    inquiry = await add_inquiry(a, "Jana", counsellor="counsellor")
    due = iso(now() + timedelta(minutes=20))
    made = {}
    for who in ("counsellor", "gone", "moved"):
        sent = {"inquiryId": inquiry, "title": f"For {who}", "dueAt": due, "assigneeId": a.ids[who]}
        made[who] = await add_task(a, **sent)
    async with a.runtime.transaction() as uow:
        gone = await uow.session.get(User, a.pks["gone"])
        assert gone is not None
        gone.status = "suspended"
        await uow.session.execute(
            update(UserRole).where(UserRole.user_id == a.pks["moved"]).values(role="STUDENT")
        )
    assert await tasks.remind(a.runtime) == {"tasks": 1, "reminded": 1}
    assert await notified(a, "counsellor") == ["Due soon: For counsellor"]
    for who in ("gone", "moved"):
        assert await notified(a, who) == [f"A follow-up for you: For {who}"]
        node = (await a.gql("counsellor", NODE, {"id": made[who]["id"]}))["data"]["node"]
        assert node["remindedAt"] is None
    # Handed to an active counsellor, it is reminded.
    await a.ok("counsellor", UPDATE, {"input": {"id": made["gone"]["id"],
                                               "assigneeId": a.ids["counsellor2"]}},
               "inquiryTaskUpdate")  # fmt: skip
    assert await tasks.remind(a.runtime) == {"tasks": 1, "reminded": 1}


async def test_an_inquiry_and_a_task_show_their_people_alike(admissions: Admissions) -> None:
    a = admissions
    inquiry = await add_inquiry(a, "Kofi", counsellor="counsellor2")
    task = await add_task(a, inquiryId=inquiry, title="Call", dueAt=iso(now() + timedelta(hours=4)))
    query = """query($i: ID!, $t: ID!) {
      i: node(id: $i) { ... on Inquiry { counsellor { id name email } student { id } } }
      t: node(id: $t) { ... on InquiryTask { assignee { id name email } } } }"""
    for who in ("counsellor", "manager", "admin"):
        body = await a.gql(who, query, {"i": inquiry, "t": task["id"]})
        assert "errors" not in body, body
        shown = {"id": a.ids["counsellor2"], "name": "Counsellor2 Person",
                 "email": "counsellor2@example.org"}  # fmt: skip
        assert body["data"]["i"] == {"counsellor": shown, "student": None}
        assert body["data"]["t"] == {"assignee": shown}
    for who in (*OUTSIDERS, None):
        body = await a.gql(who, query, {"i": inquiry, "t": task["id"]})
        assert body["data"] == {"i": None, "t": None}, who
