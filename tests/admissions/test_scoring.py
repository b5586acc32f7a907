"""The lead score: explainable rules with their points, weights from the settings, kept at
every change and by the daily job as recency decays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from alumnet.config import LEAD_SCORE_WEIGHTS_DEFAULT
from alumnet.domain.admissions import scoring
from alumnet.domain.admissions.scoring import Facts
from alumnet.persistence.models import Inquiry
from alumnet.workers.jobs import HANDLERS
from alumnet.workers.schedule import SCHEDULE
from tests.admissions.conftest import Admissions, gid, pk_of
from tests.admissions.test_inquiries import CREATE, LOG, NODE, make, stage
from tests.conftest import app_api

W = dict(LEAD_SCORE_WEIGHTS_DEFAULT)


def facts(**more: object) -> Facts:
    given: dict[str, object] = {"source": "web_form", "has_programme": False,
                                "programme_open": False, "activities_recent": 0,
                                "days_since_contact": 0}  # fmt: skip
    given.update(more)
    return Facts(**given)  # type: ignore[arg-type]


def test_each_rule_gives_its_points_and_says_why() -> None:
    total, reasons = scoring.score(
        facts(source="referral", has_programme=True, programme_open=True, activities_recent=2,
              days_since_contact=15), W)  # fmt: skip
    by_rule = {r.rule: r for r in reasons}
    assert [r.rule for r in reasons] == ["source_referral", "programme_fit", "engagement",
                                         "recency"]  # fmt: skip
    assert by_rule["source_referral"].points == 25
    assert by_rule["programme_fit"].points == 20
    assert by_rule["engagement"].points == 10  # 2 of 5 contacts: 2/5 of 25
    assert by_rule["recency"].points == 22  # 45 of 60 days left: 3/4 of 30 (22.5, even)
    assert total == 77
    assert by_rule["engagement"].detail == "2 contacts logged in the last 30 days."
    # A closed programme gives nothing, nor does none; recency ends after 60 days.
    _, reasons = scoring.score(facts(has_programme=True, days_since_contact=90), W)
    assert [(r.rule, r.points) for r in reasons][1:] == [
        ("programme_fit", 0), ("engagement", 0), ("recency", 0)]  # fmt: skip
    assert "closed" in reasons[1].detail
    # Engagement stops at five contacts; the total stays within 0 to 100.
    heavy = {**W, "source_referral": 100, "engagement": 100}
    total, reasons = scoring.score(facts(source="referral", activities_recent=50), heavy)
    assert reasons[2].points == 100 and total == 100


async def test_reasons_follow_the_weights_in_the_settings(admissions: Admissions) -> None:
    a = admissions
    weights = tuple({**W, "source_walk_in": 40, "recency": 0}.items())
    async for other in app_api(a.api, lead_score_weights=weights):
        body = await other.gql(CREATE, {"input": {
            "name": "Kwame", "email": "kwame@example.net", "source": "WALK_IN",
            "programmeId": gid("Programme", a.pks["programme"])}},
            token=a.tokens["counsellor"])  # fmt: skip
        payload = body["data"]["inquiryCreate"]
        assert payload["userErrors"] == [], payload
        reasons = {r["rule"]: r["points"] for r in payload["inquiry"]["leadScore"]["reasons"]}
        assert reasons == {"source_walk_in": 40, "programme_fit": 20, "engagement": 0,
                           "recency": 0}  # fmt: skip
        assert payload["inquiry"]["leadScore"]["score"] == 60
    same = await make(a, name="Kwame", email="k2@example.net", source="WALK_IN",
                      sourceDetail=...)  # fmt: skip
    reasons = {r["rule"]: r["points"] for r in same["leadScore"]["reasons"]}
    assert reasons["source_walk_in"] == 20 and reasons["recency"] == 30


async def test_the_daily_job_lets_recency_decay(admissions: Admissions) -> None:
    a = admissions
    assert scoring.RESCORE_JOB in HANDLERS
    assert scoring.RESCORE_JOB in [name for name, _, _ in SCHEDULE]
    inquiry = await make(a)
    await a.ok("counsellor", LOG, {"input": {"id": inquiry["id"], "kind": "EMAIL",
                                            "summary": "Sent the brochure."}},
               "inquiryActivityLog")  # fmt: skip
    lost = await make(a, email="gone@example.net")
    await stage(a, lost["id"], "LOST", "Moved abroad.")
    month_ago = datetime.now(UTC) - timedelta(days=30)
    async with a.runtime.transaction() as uow:
        await uow.session.execute(
            update(Inquiry).values(
                created_at=month_ago - timedelta(days=1), last_activity_at=month_ago
            )
        )
    result = await scoring.rescore_all(a.runtime)
    assert result == {"scored": 1, "changed": 1}  # the lost one is left alone
    body = await a.gql("counsellor", NODE, {"id": inquiry["id"]})
    reasons = {r["rule"]: r for r in body["data"]["node"]["leadScore"]["reasons"]}
    assert reasons["recency"]["points"] == 15  # 30 of 60 days left
    assert reasons["recency"]["detail"].startswith("Last contact (or inquiry) 30 days ago")
    assert reasons["engagement"]["points"] == 5  # the e-mail is still within 30 days
    async with a.runtime.transaction() as uow:
        stored = await uow.session.get(Inquiry, pk_of(lost["id"]))
        assert stored is not None and stored.score == lost["leadScore"]["score"]


async def test_the_daily_job_works_in_batches(
    admissions: Admissions, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = admissions
    for i in range(5):
        await make(a, email=f"b{i}@example.net")
    monkeypatch.setattr(scoring, "BATCH", 2)
    assert await scoring.rescore_all(a.runtime) == {"scored": 5, "changed": 0}


def test_weights_that_could_pass_100_points_are_refused_at_start() -> None:
    import pytest

    from alumnet.config import ConfigurationError, load_settings

    given = load_settings({"ALUMNET_LEAD_SCORE_WEIGHTS": "source_referral=30,recency=25"})
    assert dict(given.lead_score_weights)["source_referral"] == 30
    for bad in ("source_referral=60", "recency=101", "loudness=5", "recency"):
        with pytest.raises(ConfigurationError):
            load_settings({"ALUMNET_LEAD_SCORE_WEIGHTS": bad})


async def test_the_daily_job_skips_an_inquiry_being_changed(admissions: Admissions) -> None:
    """A counsellor's change holds the inquiry's row: the job neither waits for it nor
    overwrites the fresher score it writes (row locks: PostgreSQL)."""
    a = admissions
    if a.runtime.database.is_sqlite:
        pytest.skip("row locks and SKIP LOCKED are PostgreSQL's; SQLite has one writer")
    busy = await make(a, email="busy@example.net")
    await make(a, email="idle@example.net")
    async with a.runtime.transaction() as uow:
        held = select(Inquiry).where(Inquiry.id == pk_of(busy["id"])).with_for_update()
        row = (await uow.session.execute(held)).scalar_one()
        assert await scoring.rescore_all(a.runtime) == {"scored": 1, "changed": 0}
        row.score = 77
    async with a.runtime.transaction() as uow:
        stored = await uow.session.get(Inquiry, pk_of(busy["id"]))
        assert stored is not None and stored.score == 77
