"""The admissions figures on a controlled dataset (inquiries and stage changes with chosen
times): the funnel, conversion by source, counsellor, programme and month, time in each
stage; filters; a constant number of statements; `admissions` holders only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alumnet.persistence.models import Inquiry, InquiryStageChange
from tests.admissions.conftest import Admissions, gid

FUNNEL = """query($f: AdmissionsReportFilter) { admissionsFunnel(filter: $f) { inquiries lost
  conversion stages { stage reached current conversion } } }"""
CONVERSION = """query($g: AdmissionsConversionGroup!, $f: AdmissionsReportFilter) {
  admissionsConversion(groupBy: $g, filter: $f) { groupBy rows { key label month inquiries open
    enrolled lost conversionRate averageDaysToEnrol } } }"""
TIMES = """query($f: AdmissionsReportFilter) { admissionsStageTimes(filter: $f) { stage inquiries
  averageDays medianDays } }"""
OUTSIDERS = ("faculty", "sre", "student", "alumnus")


def day(month: int, d: int) -> datetime:
    return datetime(2026, month, d, tzinfo=UTC)


# (name, source, counsellor, programme?, [(stage, month, day)…]); the last move is where it is.
DATASET: list[tuple[str, str, str | None, bool, list[tuple[str, int, int]]]] = [
    ("I1", "web_form", "counsellor", True, [("new", 1, 5), ("contacted", 1, 7),
     ("counselled", 1, 10), ("applied", 1, 20), ("enrolled", 1, 30)]),
    ("I2", "web_form", "counsellor", True, [("new", 1, 10), ("contacted", 1, 11),
     ("lost", 1, 15)]),
    ("I3", "referral", "counsellor2", False, [("new", 2, 1), ("contacted", 2, 5),
     ("counselled", 2, 6), ("applied", 2, 8), ("enrolled", 2, 18)]),
    # Back to new once: its time in new and in contacted is added up.
    ("I4", "walk_in", None, True, [("new", 2, 10), ("contacted", 2, 12), ("new", 2, 13),
     ("contacted", 2, 14), ("lost", 2, 15)]),
    ("I5", "campaign", "counsellor", False, [("new", 2, 20), ("contacted", 2, 21)]),
    ("I6", "web_form", None, True, [("new", 3, 1)]),
]  # fmt: skip
RANKS = {"new": 1, "contacted": 2, "counselled": 3, "applied": 4, "enrolled": 5}


async def add(a: Admissions, name: str, source: str, counsellor: str | None, programme: bool,
              moves: list[tuple[str, int, int]]) -> None:  # fmt: skip
    async with a.runtime.transaction() as uow:
        stages = [s for s, _, _ in moves]
        created, last = day(moves[0][1], moves[0][2]), day(moves[-1][1], moves[-1][2])
        inquiry = Inquiry(
            name=name, source=source, stage=stages[-1],
            furthest=max(RANKS.get(s, 1) for s in stages),
            counsellor_id=a.pks[counsellor] if counsellor else None,
            programme_id=a.pks["programme"] if programme else None, score_reasons=[],
            created_at=created, updated_at=last, stage_changed_at=last,
        )  # fmt: skip
        uow.session.add(inquiry)
        await uow.session.flush()
        before = None
        for stage, month, d in moves:
            change = InquiryStageChange(
                inquiry_id=inquiry.id, from_stage=before, to_stage=stage, changed_at=day(month, d)
            )
            uow.session.add(change)
            before = stage


@pytest.fixture
async def dataset(admissions: Admissions) -> Admissions:
    for row in DATASET:
        await add(admissions, *row)
    return admissions


async def report(a: Admissions, query: str, variables: dict[str, Any], who: str = "counsellor"):  # type: ignore[no-untyped-def]
    body = await a.gql(who, query, variables)
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


async def test_the_funnel(dataset: Admissions) -> None:
    a = dataset
    found = await report(a, FUNNEL, {})
    assert found["inquiries"] == 6 and found["lost"] == 2
    assert found["conversion"] == round(2 / 6, 4)
    assert found["stages"] == [
        {"stage": "NEW", "reached": 6, "current": 1, "conversion": None},
        {"stage": "CONTACTED", "reached": 5, "current": 1, "conversion": round(5 / 6, 4)},
        {"stage": "COUNSELLED", "reached": 2, "current": 0, "conversion": 0.4},
        {"stage": "APPLIED", "reached": 2, "current": 0, "conversion": 1.0},
        {"stage": "ENROLLED", "reached": 2, "current": 2, "conversion": 1.0},
    ]
    # Filters: a source, a counsellor, a programme, days of creation (both included).
    found = await report(a, FUNNEL, {"f": {"source": "WEB_FORM"}})
    assert found["inquiries"] == 3 and [s["reached"] for s in found["stages"]] == [3, 2, 1, 1, 1]
    found = await report(a, FUNNEL, {"f": {"counsellorId": a.ids["counsellor2"]}})
    assert found["inquiries"] == 1 and found["conversion"] == 1.0
    found = await report(a, FUNNEL, {"f": {"programmeId": gid("Programme", a.pks["programme"])}})
    assert found["inquiries"] == 4
    found = await report(a, FUNNEL, {"f": {"from": "2026-01-10", "to": "2026-02-10"}})
    assert found["inquiries"] == 3 and found["lost"] == 2  # I2, I3, I4
    found = await report(a, FUNNEL, {"f": {"from": "2027-01-01"}})
    assert found["inquiries"] == 0 and found["conversion"] is None
    assert [s["conversion"] for s in found["stages"]] == [None] * 5
    # An id of another type names nothing: nothing matches.
    found = await report(a, FUNNEL, {"f": {"counsellorId": gid("Programme", 1)}})
    assert found["inquiries"] == 0
    body = await a.gql("counsellor", FUNNEL, {"f": {"from": "2026-02-01", "to": "2026-01-01"}})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": ["filter", "to"]}


async def test_conversion_by_group(dataset: Admissions) -> None:
    a = dataset

    def rows(found: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (r["key"], r["label"], r["inquiries"], r["open"], r["enrolled"], r["lost"],
             r["conversionRate"], r["averageDaysToEnrol"])
            for r in found["rows"]
        ]  # fmt: skip

    found = await report(a, CONVERSION, {"g": "SOURCE"})
    assert found["groupBy"] == "SOURCE"
    assert rows(found) == [
        ("web_form", "Web form", 3, 1, 1, 1, 0.3333, 25.0),
        ("campaign", "Campaign", 1, 1, 0, 0, 0.0, None),
        ("referral", "Referral", 1, 0, 1, 0, 1.0, 17.0),
        ("walk_in", "Walk-in", 1, 0, 0, 1, 0.0, None),
    ]
    found = await report(a, CONVERSION, {"g": "COUNSELLOR"})
    assert rows(found) == [
        (a.ids["counsellor"], "Counsellor Person", 3, 1, 1, 1, 0.3333, 25.0),
        (None, "Unassigned", 2, 1, 0, 1, 0.0, None),
        (a.ids["counsellor2"], "Counsellor2 Person", 1, 0, 1, 0, 1.0, 17.0),
    ]
    found = await report(a, CONVERSION, {"g": "PROGRAMME"})
    assert rows(found) == [
        (gid("Programme", a.pks["programme"]), "BSc Computer Science", 4, 1, 1, 2, 0.25, 25.0),
        (None, "No programme", 2, 1, 1, 0, 0.5, 17.0),
    ]
    found = await report(a, CONVERSION, {"g": "MONTH"})
    assert rows(found) == [
        ("2026-01", "January 2026", 2, 0, 1, 1, 0.5, 25.0),
        ("2026-02", "February 2026", 3, 1, 1, 1, 0.3333, 17.0),
        ("2026-03", "March 2026", 1, 1, 0, 0, 0.0, None),
    ]
    assert [r["month"] for r in found["rows"]] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert {r["month"] for r in (await report(a, CONVERSION, {"g": "SOURCE"}))["rows"]} == {None}
    found = await report(a, CONVERSION, {"g": "MONTH", "f": {"source": "WEB_FORM",
                                                            "to": "2026-02-28"}})  # fmt: skip
    assert rows(found) == [("2026-01", "January 2026", 2, 0, 1, 1, 0.5, 25.0)]


async def test_time_in_each_stage(dataset: Admissions) -> None:
    a = dataset
    # I1 to I4: none is in a stage of the way now, so that no figure runs up to now.
    found = await report(a, TIMES, {"f": {"to": "2026-02-15"}})
    assert found == [
        # 2, 1, 4 and 2 + 1 days
        {"stage": "NEW", "inquiries": 4, "averageDays": 2.5, "medianDays": 2.5},
        # 3, 4, 1 and 1 + 1 days
        {"stage": "CONTACTED", "inquiries": 4, "averageDays": 2.5, "medianDays": 2.5},
        {"stage": "COUNSELLED", "inquiries": 2, "averageDays": 6.0, "medianDays": 6.0},
        {"stage": "APPLIED", "inquiries": 2, "averageDays": 10.0, "medianDays": 10.0},
    ]
    found = await report(a, TIMES, {"f": {"counsellorId": a.ids["counsellor2"]}})
    assert [(t["inquiries"], t["medianDays"]) for t in found] == [(1, 4.0), (1, 1.0), (1, 2.0),
                                                                    (1, 10.0)]  # fmt: skip
    # I5 is still contacted: its time there counts up to now (since 21 February 2026).
    found = await report(a, TIMES, {"f": {"source": "CAMPAIGN"}})
    floor = (datetime.now(UTC) - day(2, 21)) / timedelta(days=1)
    contacted = found[1]
    assert found[0] == {"stage": "NEW", "inquiries": 1, "averageDays": 1.0, "medianDays": 1.0}
    assert contacted["inquiries"] == 1 and contacted["averageDays"] >= round(floor, 2) - 0.01
    assert found[2]["inquiries"] == 0 and found[2]["averageDays"] is None
    empty = await report(a, TIMES, {"f": {"from": "2027-01-01"}})
    assert [t["inquiries"] for t in empty] == [0, 0, 0, 0]


async def test_statements_do_not_grow_with_the_inquiries(admissions: Admissions) -> None:
    a = admissions
    queries = [(FUNNEL, {}), (CONVERSION, {"g": "COUNSELLOR"}), (CONVERSION, {"g": "MONTH"}),
               (CONVERSION, {"g": "PROGRAMME"}), (TIMES, {})]  # fmt: skip
    for row in DATASET[:2]:
        await add(a, *row)
    few = [await a.api.sql_count(q, v, a.tokens["manager"]) for q, v in queries]
    for i in range(4):
        for name, *rest in DATASET:
            await add(a, f"{name}-{i}", *rest)  # type: ignore[arg-type]
    many = [await a.api.sql_count(q, v, a.tokens["manager"]) for q, v in queries]
    assert [n for n, _ in few] == [n for n, _ in many]
    assert next(iter(many[0][1]["data"].values()))["inquiries"] == 26
    # One statement each, besides the viewer's.
    assert all(n <= 2 for n, _ in many), [n for n, _ in many]


async def test_only_admissions_holders_read_the_figures(dataset: Admissions) -> None:
    a = dataset
    for query, variables in [(FUNNEL, {}), (CONVERSION, {"g": "SOURCE"}), (TIMES, {})]:
        for who in ("counsellor", "manager", "admin"):
            await report(a, query, variables, who)
        for who in (*OUTSIDERS, None):
            body = await a.gql(who, query, variables)
            expected = "UNAUTHENTICATED" if who is None else "FORBIDDEN"
            assert body["errors"][0]["extensions"]["code"] == expected, (who, query)
            assert not any((body.get("data") or {}).values()), body
