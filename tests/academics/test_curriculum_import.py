"""A curriculum through the import pipeline: preview (nothing written), run (subjects and
topics by code, in order, prerequisites set once every topic exists, subjects added to
programmes), run again (unchanged), bad rows refused with their reasons (unknown
prerequisite, a circle, bad hours), Excel as well as CSV, rollback (a topic with progress
kept), the command line, and who may import a curriculum (`academics:manage`)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from sqlalchemy import select

from alumnet.persistence.models import (
    Programme,
    ProgrammeSubject,
    Subject,
    Topic,
    TopicPrerequisite,
    TopicProgress,
)
from alumnet.persistence.uow import Origin
from tests.academics.conftest import Academics
from tests.data.conftest import status, upload

RUN = """mutation($n: ID!) { importRun(input: {importId: $n}) { import { id status }
  userErrors { code } } }"""
ROLLBACK = """mutation($n: ID!) { importRollback(input: {importId: $n}) { import { id status }
  userErrors { code } } }"""

CURRICULUM = (
    "Subject code,Subject name,Topic code,Topic title,Description,Position,Hours,"
    "Prerequisites,Programme\n"
    "web-1,Web basics,html,HTML,Markup,,2,,bsc-cs\n"
    "WEB-1,,CSS,CSS,,,1.5,HTML,\n"
    "WEB-1,,JS,JavaScript,,,3,CSS; PY/T1,BSC-CS\n"
    "PY,Python,T5,Packaging,,,1,T4,\n"  # a fifth topic of the fixture's subject
    "WEB-1,,DOM,The DOM,,,2,JS;NOPE,\n"  # no such topic
    "WEB-1,,X1,Bad hours,,,1.1,,\n"  # not in quarter hours
    "WEB-1,,HTML,Again,,,1,,\n"  # the first row's topic again
    "CYC,Circles,A,A,,,1,C,\n"  # A needs C, C needs B, B needs A: a circle
    "CYC,,B,B,,,1,A,\n"
    "CYC,,C,C,,,1,B,\n"
    "CYC,,D,D,,,1,A,\n"  # needs A, which the circle leaves out
    "NEW,,T1,No name,,,1,,\n"  # a new subject without a name
    "WEB-1,,SELF,Self,,,1,SELF,\n"
)
REFUSED = {
    6: {"prerequisites": "NOT_FOUND"},
    7: {"estimated_hours": "INVALID_HOURS"},
    8: {"topic_code": "DUPLICATE_IN_FILE"},
    9: {"prerequisites": "CIRCULAR_PREREQUISITE"},
    10: {"prerequisites": "CIRCULAR_PREREQUISITE"},
    11: {"prerequisites": "CIRCULAR_PREREQUISITE"},
    12: {"prerequisites": "NOT_FOUND"},
    13: {"subject_name": "REQUIRED"},
    14: {"prerequisites": "SELF_PREREQUISITE"},
}


async def _programme(a: Academics) -> int:
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        programme = Programme(code="BSC-CS", name="Computer science", first_graduation_year=2000)
        uow.session.add(programme)
        await uow.session.flush()
        return int(programme.id)


async def _send(a: Academics, who: str, content: bytes, name: str = "c.csv", **given: Any) -> Any:
    made = await upload(a, who, content, name, kind="CURRICULUM", **given)  # type: ignore[arg-type]
    assert "errors" not in made, made
    assert made["data"]["importUpload"]["userErrors"] == [], made
    found = made["data"]["importUpload"]["import"]["id"]
    return {**await status(a, found), "id": found}  # type: ignore[arg-type]


async def _read(a: Academics, query: Any) -> list[Any]:
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        return list((await uow.session.execute(query)).all())


async def _curriculum(a: Academics) -> dict[str, Any]:
    """Subjects with their topics in order (code, hours, prerequisites as SUBJ/CODE)."""
    subjects = dict(await _read(a, select(Subject.id, Subject.code)))
    topics = await _read(
        a,
        select(Topic.id, Topic.subject_id, Topic.code, Topic.estimated_minutes).order_by(
            Topic.subject_id, Topic.position
        ),
    )
    labels = {i: f"{subjects[s]}/{c}" for i, s, c, _ in topics}
    needs: dict[int, list[str]] = {}
    for topic_id, requires_id in await _read(
        a, select(TopicPrerequisite.topic_id, TopicPrerequisite.requires_id)
    ):
        needs.setdefault(topic_id, []).append(labels[requires_id])
    out: dict[str, Any] = {code: [] for code in subjects.values()}
    for i, s, c, minutes in topics:
        out[subjects[s]].append((c, minutes, sorted(needs.get(i, []))))
    return out


def _problems(row: dict[str, Any]) -> dict[str, str]:
    return {p["field"]: p["code"] for p in row["problems"]}


async def test_preview_run_again_and_roll_back(academics: Academics) -> None:
    a = academics
    programme = await _programme(a)
    before = await _curriculum(a)
    preview = await _send(a, "manager", CURRICULUM.encode())
    assert preview["status"] == "PREVIEWED", preview
    assert (preview["created"], preview["unchanged"], preview["rejected"]) == (4, 0, 9)
    rows = {r["rowNumber"]: r for r in preview["rows"]}
    for number, wanted in REFUSED.items():
        assert rows[number]["action"] == "REJECT", rows[number]
        assert wanted.items() <= _problems(rows[number]).items(), rows[number]
    circle = rows[9]["problems"][0]["message"]
    assert "A → C → B → A" in circle, circle
    assert "NOPE" in rows[6]["problems"][0]["message"]
    assert rows[2]["naturalKey"] == "WEB-1/HTML"
    assert rows[2]["after"]["subject_name"] == "Web basics"
    assert rows[2]["after"]["programme"] == "BSC-CS"
    assert rows[4]["after"]["prerequisites"] == ["PY/T1", "WEB-1/CSS"]
    assert await _curriculum(a) == before  # a preview writes nothing

    await a.ok("manager", RUN, {"n": preview["id"]}, "importRun")
    done = await status(a, preview["id"])  # type: ignore[arg-type]
    assert (done["status"], done["created"], done["rejected"]) == ("COMPLETED", 4, 9), done
    now = await _curriculum(a)
    assert now["WEB-1"] == [
        ("HTML", 120, []),
        ("CSS", 90, ["WEB-1/HTML"]),
        ("JS", 180, ["PY/T1", "WEB-1/CSS"]),
    ]
    assert now["PY"][-1] == ("T5", 60, ["PY/T4"])
    assert "CYC" not in now and "NEW" not in now
    linked = await _read(
        a,
        select(ProgrammeSubject.programme_id, Subject.code).join(
            Subject, Subject.id == ProgrammeSubject.subject_id
        ),
    )
    assert linked == [(programme, "WEB-1")]

    # The same file again: everything is there already.
    again = await _send(a, "manager", CURRICULUM.encode(), "again.csv", dryRun=False)
    assert (again["status"], again["created"], again["updated"], again["unchanged"]) == (
        "COMPLETED",
        0,
        0,
        4,
    )
    assert await _curriculum(a) == now

    # A change: a new order (positions), new hours, prerequisites replaced.
    changed = (
        "Subject code,Topic code,Topic title,Position,Estimated hours,Prerequisites\n"
        "WEB-1,JS,JavaScript,1,4,\n"
        "WEB-1,CSS,CSS,2,1.5,HTML\n"
    )
    update = await _send(a, "manager", changed.encode(), "change.csv", dryRun=False)
    # CSS stays second, as it was: unchanged.
    assert (update["created"], update["updated"], update["unchanged"]) == (0, 1, 1), update
    moved = await _curriculum(a)
    assert moved["WEB-1"] == [
        ("JS", 240, []),
        ("CSS", 90, ["WEB-1/HTML"]),
        ("HTML", 120, []),
    ]
    # Rolled back: as it was before.
    await a.ok("manager", ROLLBACK, {"n": update["id"]}, "importRollback")
    await status(a, update["id"])  # type: ignore[arg-type]
    assert await _curriculum(a) == now

    # Rolling back the first run: its topics go, except one with progress since (kept).
    html = (await _read(a, select(Topic.id, Topic.subject_id).where(Topic.code == "HTML")))[0]
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        uow.session.add(
            TopicProgress(
                student_id=a.pks["student"],
                topic_id=html[0],
                subject_id=html[1],
                status="completed",
            )
        )
    await a.ok("manager", ROLLBACK, {"n": preview["id"]}, "importRollback")
    undone = await status(a, preview["id"])  # type: ignore[arg-type]
    assert undone["status"] == "ROLLED_BACK"
    actions = {r["naturalKey"]: r["action"] for r in undone["rows"] if r["action"] != "REJECTED"}
    assert actions == {
        "WEB-1/HTML": "CREATED",
        "WEB-1/CSS": "ROLLED_BACK",
        "WEB-1/JS": "ROLLED_BACK",
        "PY/T5": "ROLLED_BACK",
    }
    left = await _curriculum(a)
    assert left["WEB-1"] == [("HTML", 120, [])]
    # The row that joined WEB-1 to the programme is the kept one: it stays joined.
    assert len(await _read(a, select(ProgrammeSubject.subject_id))) == 1
    assert left["PY"] == before["PY"]


async def test_excel_and_the_command_line(academics: Academics, tmp_path: Path) -> None:
    from openpyxl import Workbook

    from tests.test_cli import alumnet

    a = academics
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Subject", "Subject name", "Topic", "Title", "Order", "Hours", "Requires"])
    sheet.append(["ALG", "Algorithms", "SORT", "Sorting", 2, 2.25, "SEARCH"])
    sheet.append(["ALG", None, "SEARCH", "Searching", 1, 1, None])
    out = io.BytesIO()
    book.save(out)
    done = await _send(a, "manager", out.getvalue(), "curriculum.xlsx", dryRun=False)
    assert (done["status"], done["created"], done["rejected"]) == ("COMPLETED", 2, 0), done
    assert (await _curriculum(a))["ALG"] == [("SEARCH", 60, []), ("SORT", 135, ["ALG/SEARCH"])]

    # A circle between a file and what alumnet holds: SEARCH needs SORT, which needs it.
    sheet_path = tmp_path / "circle.csv"
    sheet_path.write_text(
        "Subject code,Topic code,Topic title,Estimated hours,Prerequisites\n"
        "ALG,SEARCH,Searching,1,SORT\n"
    )
    preview = alumnet(
        a.api.settings, "import", str(sheet_path), "--kind", "curriculum", "--dry-run"
    )
    assert preview.returncode == 0, preview.stderr
    assert "1 rejected" in preview.stdout and "SEARCH → SORT → SEARCH" in preview.stdout, (
        preview.stdout
    )
    run = alumnet(a.api.settings, "import", str(sheet_path), "--kind", "curriculum")
    assert run.returncode == 0, run.stderr
    assert (await _curriculum(a))["ALG"] == [("SEARCH", 60, []), ("SORT", 135, ["ALG/SEARCH"])]

    # No subject past 500 topics: the rows beyond are rejected, the rest imported.
    many = tmp_path / "many.csv"
    many.write_text("Subject code,Topic code,Topic title,Estimated hours\n" + "".join(
        f"ALG,T{n},Topic {n},1\n" for n in range(500)))  # fmt: skip
    run = alumnet(a.api.settings, "import", str(many), "--kind", "curriculum")
    assert run.returncode == 0, run.stderr
    assert "2 rejected" in run.stdout, run.stdout
    assert len((await _curriculum(a))["ALG"]) == 500


async def test_who_may_import_a_curriculum(academics: Academics) -> None:
    a = academics
    content = b"Subject code,Subject name,Topic code,Topic title,Estimated hours\nX,X,T1,T,1\n"
    for who in ("faculty", "sre", "student", "counsellor"):
        refused = await upload(a, who, content, "c.csv", kind="CURRICULUM")  # type: ignore[arg-type]
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", (who, refused)
    done = await _send(a, "admin", content, dryRun=False)
    assert done["created"] == 1
    # Joined to a programme, and left again by a rollback (with the subject it made).
    await _programme(a)
    joined = await _send(
        a,
        "manager",
        b"Subject code,Topic code,Topic title,Hours,Programme\nX,T2,U,1,BSC-CS\n",
        dryRun=False,
    )
    assert joined["updated"] == 0 and joined["created"] == 1, joined
    assert len(await _read(a, select(ProgrammeSubject.subject_id))) == 1
    await a.ok("manager", ROLLBACK, {"n": joined["id"]}, "importRollback")
    await a.ok("admin", ROLLBACK, {"n": done["id"]}, "importRollback")
    await status(a, done["id"])  # type: ignore[arg-type]
    assert await _read(a, select(ProgrammeSubject.subject_id)) == []
    assert "X" not in await _curriculum(a)
    missing = await upload(
        a, "manager", b"Subject code,Topic code\nX,T1\n", "c.csv", kind="CURRICULUM", dryRun=False
    )  # type: ignore[arg-type]
    found = {**await status(a, missing["data"]["importUpload"]["import"]["id"])}  # type: ignore[arg-type]
    assert found["status"] == "FAILED" and "No column for" in found["error"], found
