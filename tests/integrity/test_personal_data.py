"""A student's own-data export holds what the API shows them about themselves: staff's
notes and judgements about them, and who made them, are withheld (and listed as such)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from alumnet.domain.people.merge import user_columns
from alumnet.domain.people.personal_data import WITHHELD_COLUMNS, WITHHELD_TABLES
from tests.engagement.conftest import CORRECT, ok
from tests.engagement.test_submissions import SUBMIT, assignment
from tests.integrity.conftest import Programme
from tests.integrity.test_integrity import APPEAL, DECIDE, FLAG
from tests.integrity.test_outreach import GENERATE, LOG, at_risk_programme


async def exported(p: Programme, who: str) -> dict[str, Any]:
    """Ask for the export, let the job write it, and download it as its owner would."""
    started = await p.gql(who, "mutation { personalDataExportRequest { job { id } } }")
    assert started["data"]["personalDataExportRequest"]["job"]["id"]
    await p.api.run_jobs()
    listed = await p.gql(who, "{ personalDataExports { downloadUrl } }")
    url = urlparse(listed["data"]["personalDataExports"][0]["downloadUrl"])
    downloaded = await p.api.client.get(f"{url.path}?{url.query}")
    assert downloaded.status_code == 200
    return json.loads(downloaded.text)  # type: ignore[no-any-return]


def test_what_is_withheld_names_real_tables_and_columns() -> None:
    known = {(t.name, c.name) for t, _ in user_columns() for c in t.columns}
    assert set(WITHHELD_COLUMNS) <= known
    assert set(WITHHELD_TABLES) <= {t for t, _ in known}


async def test_integrity_flags_come_without_evidence_or_who_raised_them(
    programme: Programme,
) -> None:
    p = programme
    flag = {"enrollmentId": p.ids["e_s1_ma"], "kind": "PLAGIARISM", "evidence": "Copied essay."}
    made = await ok(p, "m1", FLAG, {"i": flag}, "integrityFlagRaise")
    warn = {"enrollmentId": p.ids["e_s1_ma"], "kind": "WARN", "reason": "Cite your sources.",
            "flagId": made["flag"]["id"]}  # fmt: skip
    decision = await ok(p, "manager", DECIDE, {"i": warn}, "integrityDecide")
    statement = {"decisionId": decision["decision"]["id"], "statement": "I did cite them."}
    await ok(p, "s1", APPEAL, {"i": statement}, "appealSubmit")
    data = await exported(p, "s1")
    [flag_row] = data["tables"]["integrity_flags"]
    assert flag_row["kind"] == "plagiarism"
    assert "evidence" not in flag_row and "raised_by_id" not in flag_row
    assert "Copied essay." not in json.dumps(data)
    [decision_row] = data["tables"]["integrity_decisions"]
    assert decision_row["reason"] == "Cite your sources." and "decided_by_id" not in decision_row
    assert data["tables"]["appeals"][0]["statement"] == "I did cite them."
    assert "integrity_flags.evidence" in data["withheld"]["columns"]


async def test_outreach_notes_scores_and_scripts_are_withheld(programme: Programme) -> None:
    p = programme
    await at_risk_programme(p)
    generated = await ok(p, "sre", GENERATE, {"i": {"missionId": p.ids["ma"]}}, "callListGenerate")
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    logged = {
        "callListId": generated["callList"]["id"],
        "studentId": p.ids["s1"],
        "outcome": "RESCHEDULE",
        "notes": "Sounded unwell.",
        "followUpOn": tomorrow,
    }
    await ok(p, "sre", LOG, {"i": logged}, "callLogRecord")
    data = await exported(p, "s1")
    for table in ("call_logs", "follow_ups", "at_risk", "call_list_entries"):
        assert table not in data["tables"], table
        assert table in data["withheld"]["tables"]
    text = json.dumps(data["tables"])
    assert "Sounded unwell." not in text and "Hello S1" not in text
    assert data["tables"]["enrollments"]  # their own enrolments are there


async def test_engagement_keeps_their_work_but_not_who_recorded_it(programme: Programme) -> None:
    p = programme
    essay = await assignment(p)
    await ok(p, "s1", SUBMIT, {"i": {"assignmentId": essay, "content": "My essay, v1."}},
             "submissionCreate")  # fmt: skip
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    fixed = {"enrollmentId": p.ids["e_s1_ma"], "day": yesterday, "present": True,
             "reason": "Was in the lab."}  # fmt: skip
    await ok(p, "sre", CORRECT, {"i": fixed}, "attendanceCorrect")
    data = await exported(p, "s1")
    [submission] = data["tables"]["submissions"]
    assert submission["content"] == "My essay, v1." and "recorded_by_id" not in submission
    assert data["tables"]["attendance_days"]
    assert all("recorded_by_id" not in row for row in data["tables"]["attendance_days"])
    assert all("created_by_id" not in row for row in data["tables"]["point_entries"])
