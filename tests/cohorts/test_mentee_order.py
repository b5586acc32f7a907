"""A mentor's mentees sorted by name, points or attendance, a page at a time, the same on
the fast path as on normal execution."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from strawberry.relay import from_base64

from alumnet.persistence.models import AttendanceDay, Enrollment
from tests.cohorts.conftest import Programme
from tests.cohorts.test_fastpath import both_ways

MENTEES = """query($o: MenteeOrder, $n: Int, $a: String) { viewer { mentees(orderBy: $o,
  first: $n, after: $a) { totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id points student { name } } } } } }"""


async def _standing(p: Programme) -> None:
    """m2 mentors s2 in B1-A (10 points, no attendance) and s1 in B1-B (5 points, 2 days)."""
    s1_mb = int(from_base64(p.ids["e_s1_mb"])[1])
    s2_ma = int(from_base64(p.ids["e_s2_ma"])[1])
    async with p.api.app.state.runtime.database.connect() as conn:
        await conn.execute(update(Enrollment).where(Enrollment.id == s1_mb).values(points=5))
        await conn.execute(update(Enrollment).where(Enrollment.id == s2_ma).values(points=10))
        row = (
            await conn.execute(select(Enrollment).where(Enrollment.id == s1_mb))
        ).one()  # fmt: skip
        for back in (1, 2):
            await conn.execute(
                insert(AttendanceDay).values(
                    enrollment_id=s1_mb, mission_id=row.mission_id, student_id=row.student_id,
                    day=date.today() - timedelta(days=back), kind="daily", status="present",
                )
            )  # fmt: skip
        await conn.commit()


async def _names(p: Programme, order: dict[str, Any] | None, first: int = 10) -> list[str]:
    body = await p.gql("m2", MENTEES, {"o": order, "n": first})
    assert "errors" not in body, body
    return [e["node"]["student"]["name"] for e in body["data"]["viewer"]["mentees"]["edges"]]


async def test_mentees_sort_by_name_points_and_attendance(programme: Programme) -> None:
    p = programme
    await _standing(p)
    assert await _names(p, None) == ["S1 Person", "S2 Person"]
    assert await _names(p, {"field": "NAME", "direction": "DESC"}) == ["S2 Person", "S1 Person"]
    assert await _names(p, {"field": "POINTS"}) == ["S2 Person", "S1 Person"]  # most first
    assert await _names(p, {"field": "POINTS", "direction": "ASC"}) == ["S1 Person", "S2 Person"]
    assert await _names(p, {"field": "ATTENDANCE"}) == ["S1 Person", "S2 Person"]
    assert await _names(p, {"field": "ATTENDANCE", "direction": "ASC"}) == [
        "S2 Person", "S1 Person"
    ]  # fmt: skip


async def test_mentees_page_with_cursors_in_every_order(programme: Programme) -> None:
    p = programme
    await _standing(p)
    for field in ("NAME", "POINTS", "ATTENDANCE"):
        for direction in ("ASC", "DESC"):
            order = {"field": field, "direction": direction}
            whole = await _names(p, order)
            first = (await p.gql("m2", MENTEES, {"o": order, "n": 1}))["data"]["viewer"]["mentees"]
            assert first["totalCount"] == 2 and first["pageInfo"]["hasNextPage"]
            rest = await p.gql(
                "m2", MENTEES, {"o": order, "n": 1, "a": first["pageInfo"]["endCursor"]}
            )
            second = rest["data"]["viewer"]["mentees"]
            assert second["totalCount"] == 2 and not second["pageInfo"]["hasNextPage"]
            seen = [e["node"]["student"]["name"] for e in first["edges"] + second["edges"]]
            assert seen == whole, order


async def test_sorted_mentees_agree_on_the_fast_path(programme: Programme) -> None:
    p = programme
    await _standing(p)
    query = """query($o: MenteeOrder) { viewer { mentees(first: 10, orderBy: $o) { totalCount
      edges { cursor node { id status student { name } mentors { name } } } } } }"""
    on_postgresql = p.api.settings.database_url.startswith("postgresql")
    for field in ("NAME", "POINTS", "ATTENDANCE"):
        normal, fast, took_fast_path = await both_ways(p, "m2", query, {"o": {"field": field}})
        assert normal["data"]["viewer"]["mentees"]["totalCount"] == 2
        assert fast["data"] == normal["data"], field
        assert took_fast_path == on_postgresql
