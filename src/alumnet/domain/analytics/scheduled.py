"""Scheduled reports: a staff member's standing order for a report, built weekly or monthly
as an Excel workbook with native charts and a CSV, stored as their files, and e-mailed as
signed links (never the figures themselves).

- Subscribing checks the report's filters (``reports.check_filters``) and the viewer's
  reach: a mission or batch they may not see is NOT_FOUND, as if it did not exist. A person
  holds at most ``SUBSCRIPTIONS_MAX``.
- The hourly ``analytics.send_reports`` job claims due subscriptions (``next_run_at`` past,
  active) with their rows locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's one
  write lock), records one ``analytics.report`` job each and moves ``next_run_at`` on in the
  same transaction: a period is never sent twice, nor by two schedulers at once.
- The report job reads its subscriber's roles again (``viewer_of``): someone who may no
  longer read the report gets nothing, and the subscription stops, saying why. Otherwise
  the table is built as they see it, both files are stored and one e-mail is queued, in
  one transaction guarded so that a job run twice sends once. Failures are retried by the
  job system; the subscription names its last job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from alumnet.domain.analytics import reports, workbook
from alumnet.domain.analytics.common import DateRange, Table
from alumnet.domain.analytics.reports import scope
from alumnet.domain.communication.emails import render_pair
from alumnet.domain.data import files
from alumnet.domain.errors import DomainError, PermissionDenied
from alumnet.domain.identity import audit
from alumnet.domain.identity.auth import viewer_of
from alumnet.domain.identity.mail import EMAIL_JOB
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.domain.identity.two_factor import required_roles
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import Job, OutboundEmail, ReportSubscription, User
from alumnet.persistence.uow import UnitOfWork

SEND_JOB = "analytics.send_reports"
REPORT_JOB = "analytics.report"
FREQUENCIES = ("weekly", "monthly")
SUBSCRIPTIONS_MAX = 20
# Reports go out on Mondays (weekly) and on the first of the month (monthly) from this
# hour (UTC), for the whole days before: the week Monday to Sunday, the calendar month.
# Noon UTC is midnight or later in every time zone (UTC-12 to UTC+14): the last day is
# over everywhere, so no mission's Sunday (or month's last day) is cut short.
SEND_AT = time(12, 0)
# The files are kept, and the e-mailed links work, this long: a weekly report's links
# last until the next one arrives.
KEEP = timedelta(days=7)
# Subscriptions claimed per transaction by the scheduler.
CLAIM_BATCH = 500
EMAIL_TEMPLATE = "analytics_report"


# -- when -------------------------------------------------------------------------------------


def period_of(frequency: str, today: date) -> DateRange:
    """What a report sent ``today`` covers: the last whole week (Monday to Sunday) or the
    last calendar month before it."""
    if frequency == "weekly":
        monday = today - timedelta(days=today.weekday())
        return DateRange(monday - timedelta(days=7), monday - timedelta(days=1))
    last = today.replace(day=1) - timedelta(days=1)
    return DateRange(last.replace(day=1), last)


def next_run(frequency: str, now: datetime) -> datetime:
    """The first sending time after ``now``: a Monday (weekly) or the first of a month
    (monthly), at ``SEND_AT`` UTC."""
    today = now.astimezone(UTC).date()
    weekly = frequency == "weekly"
    day = today - timedelta(days=today.weekday()) if weekly else today.replace(day=1)
    moment = datetime.combine(day, SEND_AT, UTC)
    while moment <= now:
        day = day + timedelta(days=7) if weekly else _next_month(day)
        moment = datetime.combine(day, SEND_AT, UTC)
    return moment


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


# -- who --------------------------------------------------------------------------------------


def require_subscriber(viewer: Viewer) -> int:
    """The gate: signed in, and someone who reads some report (analytics:read, within some
    batch or mission at least; users:read, for platform engagement; or a mentor)."""
    me = viewer.require_user()
    if not (
        viewer.holds_somewhere(Permission.ANALYTICS_READ)
        or viewer.can(Permission.USERS_READ)
        or Role.MENTOR in viewer.roles
    ):
        raise PermissionDenied(Permission.ANALYTICS_READ.value)
    return me


def _clean_filters(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    """The filters as stored: no empty values, keys in order (so that equal filters
    compare equal)."""
    given = filters or {}
    return {k: given[k] for k in sorted(given) if given[k] not in (None, "", [])}


def _check_frequency(frequency: str) -> None:
    if frequency not in FREQUENCIES:
        raise DomainError.of("INVALID", "A report is sent weekly or monthly.", "frequency")


async def check(db: Any, viewer: Viewer, report: str, filters: dict[str, Any]) -> dict[str, Any]:
    """Whether the viewer may receive this report with these filters, as the report's
    query decides: the report exists and its filters are sound (``check_filters``), the
    viewer may read it (REPORT_NOT_ALLOWED), a mission or batch the filters name is
    within their reach (NOT_FOUND, as one that does not exist), and rows per student only
    for who may see the students (REPORT_NOT_ALLOWED on ``groupBy``). Returns the filters as
    kept: the grouping said even when it is the report's default."""
    if report not in reports.REPORTS:
        raise DomainError.of("UNKNOWN_REPORT", f"There is no report called {report!r}.", "report")
    reports.check_filters(report, filters)
    try:
        reach = await scope.reach_of(db, viewer, report)
    except PermissionDenied:
        raise DomainError.of(
            "REPORT_NOT_ALLOWED", "You may not read this report, so you cannot receive it.",
            "report",
        ) from None  # fmt: skip
    checked = scope.check(report, filters)
    if report in scope.PROGRAMME:
        missions = await scope.missions_of(db, reach, checked)
        try:
            # Rows per student only for who may see the students, as the query decides.
            reach.require_people(checked.group_by, (m.id for m in missions))
        except DomainError:
            raise DomainError.of(
                "REPORT_NOT_ALLOWED", "You may read figures but not students one by one: "
                "choose another grouping.", "groupBy",
            ) from None  # fmt: skip
    return _clean_filters(checked.as_json())


# -- subscribing ------------------------------------------------------------------------------


async def subscribe(
    uow: UnitOfWork, viewer: Viewer, *, report: str, frequency: str, filters: dict[str, Any]
) -> ReportSubscription:
    """A new standing order (the same report, frequency and filters as one already held
    is that one, active again)."""
    me = require_subscriber(viewer)
    _check_frequency(frequency)
    wanted = await check(uow.session, viewer, report, _clean_filters(filters))
    # Counted with the person's row locked, so that two at once cannot pass the limit.
    await uow.session.get(User, me, with_for_update=True)
    held = list(
        (
            await uow.session.execute(
                select(ReportSubscription).where(ReportSubscription.user_id == me)
            )
        ).scalars()
    )
    now = datetime.now(UTC)
    for same in held:
        if (same.report, same.frequency, _clean_filters(same.filters)) == (
            report, frequency, wanted,
        ):  # fmt: skip
            if not same.active:
                same.active, same.stopped_reason = True, None
                same.next_run_at = next_run(frequency, now)
                await uow.session.flush()
                audit.record(uow, "report_subscription.update", object_type="ReportSubscription",
                             object_ids=[same.id], details={"active": True})  # fmt: skip
            return same
    if len(held) >= SUBSCRIPTIONS_MAX:
        raise DomainError.of(
            "TOO_MANY", f"At most {SUBSCRIPTIONS_MAX} report subscriptions a person; delete one "
            "first.", "report",
        )  # fmt: skip
    subscription = ReportSubscription(
        user_id=me, report=report, frequency=frequency, filters=wanted, active=True,
        next_run_at=next_run(frequency, now), created_at=now,
    )  # fmt: skip
    uow.session.add(subscription)
    await uow.session.flush()
    audit.record(uow, "report_subscription.create", object_type="ReportSubscription",
                 object_ids=[subscription.id],
                 details={"report": report, "frequency": frequency})  # fmt: skip
    return subscription


async def _own(uow: UnitOfWork, viewer: Viewer, subscription_id: int) -> ReportSubscription:
    me = viewer.require_user()
    found = (
        await uow.session.execute(
            select(ReportSubscription)
            .where(ReportSubscription.id == subscription_id, ReportSubscription.user_id == me)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such report subscription.", "id")
    return found


async def change(
    uow: UnitOfWork,
    viewer: Viewer,
    subscription_id: int,
    *,
    frequency: str | None = None,
    filters: dict[str, Any] | None = None,
    active: bool | None = None,
) -> ReportSubscription:
    """Change one's own subscription: how often, its filters (``filters``: the keys given
    replace those held, None removes one; checked as when subscribing), or pause it
    (``active``: false) and start it again."""
    subscription = await _own(uow, viewer, subscription_id)
    if not (frequency is None and filters is None and active is False):
        # Anything but a pause is checked as a new subscription is.
        require_subscriber(viewer)
        given = _clean_filters({**subscription.filters, **(filters or {})})
        often = frequency or subscription.frequency
        _check_frequency(often)
        wanted = await check(uow.session, viewer, subscription.report, given)
        if often != subscription.frequency:
            subscription.next_run_at = next_run(often, datetime.now(UTC))
        subscription.frequency, subscription.filters = often, wanted
    if active is not None and active != subscription.active:
        subscription.active = active
        subscription.stopped_reason = None
        if active:
            subscription.next_run_at = next_run(subscription.frequency, datetime.now(UTC))
    await uow.session.flush()
    audit.record(uow, "report_subscription.update", object_type="ReportSubscription",
                 object_ids=[subscription.id],
                 details={"frequency": subscription.frequency,
                          "active": subscription.active})  # fmt: skip
    return subscription


async def unsubscribe(uow: UnitOfWork, viewer: Viewer, subscription_id: int) -> int:
    """Delete one's own subscription (allowed after losing the right to read it, too)."""
    me = viewer.require_user()
    gone = await uow.session.execute(
        delete(ReportSubscription)
        .where(ReportSubscription.id == subscription_id, ReportSubscription.user_id == me)
        .returning(ReportSubscription.id)
    )
    if gone.first() is None:
        raise DomainError.of("NOT_FOUND", "No such report subscription.", "id")
    audit.record(uow, "report_subscription.delete", object_type="ReportSubscription",
                 object_ids=[subscription_id])  # fmt: skip
    return subscription_id


# -- the scheduler ----------------------------------------------------------------------------


async def send_due(rt: Runtime, now: datetime | None = None) -> dict[str, int]:
    """Record a report job for every due subscription, moving each one's ``next_run_at``
    on in the same transaction (rows locked; skipped when another scheduler holds them).
    Each job is recorded as its subscriber's, so that they see it and its error."""
    now = now or datetime.now(UTC)
    recorded = 0
    while True:
        async with rt.transaction() as uow:
            due = (
                await uow.session.execute(
                    select(
                        ReportSubscription.id,
                        ReportSubscription.user_id,
                        ReportSubscription.frequency,
                    )
                    .where(
                        ReportSubscription.active.is_(True), ReportSubscription.next_run_at <= now
                    )
                    .order_by(ReportSubscription.next_run_at, ReportSubscription.id)
                    .limit(CLAIM_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not due:
                break
            today = now.astimezone(UTC).date()
            periods = {f: period_of(f, today) for f in FREQUENCIES}
            job_rows = [
                {"name": REPORT_JOB, "queue": "default", "max_attempts": uow.job_attempts,
                 "created_by_id": row.user_id, "status": "pending", "attempts": 0,
                 "progress": 0.0, "created_at": now,
                 "args": {"subscription_id": row.id,
                          "since": periods[row.frequency].since.isoformat(),
                          "until": periods[row.frequency].until.isoformat()}}
                for row in due
            ]  # fmt: skip
            ids = list(
                (
                    await uow.session.execute(
                        insert(Job).returning(Job.id, sort_by_parameter_order=True), job_rows
                    )
                ).scalars()
            )
            uow.job_ids.extend(int(i) for i in ids)
            upcoming = {f: next_run(f, now) for f in FREQUENCIES}
            await uow.session.execute(
                update(ReportSubscription),
                [
                    {"id": row.id, "next_run_at": upcoming[row.frequency], "last_job_id": job_id}
                    for row, job_id in zip(due, ids, strict=True)
                ],
            )
            recorded += len(due)
        if len(due) < CLAIM_BATCH:
            break
    return {"recorded": recorded}


# -- the report job ---------------------------------------------------------------------------


async def _stop(rt: Runtime, subscription_id: int, reason: str) -> None:
    async with rt.transaction() as uow:
        await uow.session.execute(
            update(ReportSubscription)
            .where(ReportSubscription.id == subscription_id)
            .values(active=False, stopped_reason=reason[:300])
        )
        audit.record(uow, "report_subscription.stop", object_type="ReportSubscription",
                     object_ids=[subscription_id], details={"reason": reason[:300]})  # fmt: skip


STOPPED = {
    "REPORT_NOT_ALLOWED": "Its owner may no longer read this report.",
    "NOT_FOUND": "The mission or batch it names is no longer within its owner's reach.",
    "UNKNOWN_REPORT": "This report no longer exists.",
}


def _why_stopped(exc: DomainError) -> str:
    code = exc.problems[0].code if exc.problems else "INVALID"
    return STOPPED.get(code, f"Its filters are no longer valid: {exc}")[:300]


def _day(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


def _files_of(table: Table, period: DateRange, made: datetime) -> tuple[bytes, bytes]:
    about = [
        f"From {period.since.isoformat()} to {period.until.isoformat()} (both included).",
        f"Made {made:%Y-%m-%d %H:%M} UTC.",
    ]
    return workbook.xlsx(table, about=about), workbook.csv_bytes(table)


async def report(rt: Runtime, job: Job) -> dict[str, Any]:
    """Build one subscription's report for the job's period, as its subscriber may see it
    now, store it as their files and e-mail them the links."""
    args = job.args
    subscription_id = int(args["subscription_id"])
    period = DateRange(date.fromisoformat(args["since"]), date.fromisoformat(args["until"]))
    async with rt.database.connect() as conn:
        subscription = (
            await conn.execute(
                select(ReportSubscription.__table__).where(ReportSubscription.id == subscription_id)
            )
        ).first()
        if subscription is None or not subscription.active:
            return {"sent": False, "reason": "The subscription was deleted, paused or stopped."}
        viewer = await viewer_of(
            conn, int(subscription.user_id), None, required=required_roles(rt.settings)
        )
        reason = None
        filters = dict(subscription.filters or {})
        if viewer is None:
            reason = "Its owner can no longer sign in."
        else:
            try:
                await check(conn, viewer, subscription.report, filters)
            except DomainError as exc:
                reason = _why_stopped(exc)
    if reason is None and viewer is not None:
        try:
            table = await reports.build_table(rt, viewer, subscription.report, period, filters)
        except DomainError as exc:
            reason = _why_stopped(exc)
        except PermissionDenied:
            reason = STOPPED["REPORT_NOT_ALLOWED"]
    if reason is not None:
        await _stop(rt, subscription_id, reason)
        return {"sent": False, "stopped": reason}
    made = datetime.now(UTC)
    xlsx, csv = await asyncio.to_thread(_files_of, table, period, made)
    name = f"{subscription.report}-{period.since.isoformat()}-to-{period.until.isoformat()}"
    limit = rt.settings.export_max_bytes
    async with rt.transaction() as uow:
        # Once per job: its progress reaches 1 in the transaction that stores the files and
        # queues the e-mail, so a job run again after that commit sends nothing more.
        done = await uow.session.execute(
            update(Job).where(Job.id == job.id, Job.progress < 1.0).values(progress=1.0)
            .returning(Job.id)
        )  # fmt: skip
        if done.first() is None:
            return {"sent": False, "reason": "Already sent by an earlier run of this job."}
        still = await uow.session.execute(
            update(ReportSubscription)
            .where(ReportSubscription.id == subscription_id, ReportSubscription.active.is_(True))
            .values(last_run_at=made)
            .returning(ReportSubscription.id)
        )
        if still.first() is None:
            return {"sent": False, "reason": "The subscription was deleted or paused meanwhile."}
        stored = {}
        for extension, content_type, data in (
            ("xlsx", workbook.XLSX, xlsx),
            ("csv", workbook.CSV, csv),
        ):
            writer = await files.new_file(
                uow.session, owner_id=subscription.user_id, name=f"{name}.{extension}",
                content_type=content_type, expires_in=KEEP, limit=limit,
            )  # fmt: skip
            for start in range(0, len(data), files.CHUNK):
                await writer.write(data[start : start + files.CHUNK])
            stored[extension] = (await writer.close()).id
        person = await uow.session.get(User, subscription.user_id)
        assert person is not None
        title = reports.REPORTS[subscription.report]
        links = {
            f"{extension}_url": files.download_url(rt.settings, person.id, file_id, ttl=KEEP)
            for extension, file_id in stored.items()
        }
        text, html = render_pair(
            "report", title=f"{title}: {_day(period.since)} to {_day(period.until)}",
            person=person.name, frequency=subscription.frequency, report=title,
            period=f"{_day(period.since)} to {_day(period.until)}",
            expires=f"{made + KEEP:%Y-%m-%d %H:%M}", **links,
        )  # fmt: skip
        email = OutboundEmail(
            user_id=person.id, to_address=person.email,
            subject=f"{title}, {_day(period.since)} to {_day(period.until)}"[:200],
            text_body=text, html_body=html, template=EMAIL_TEMPLATE,
        )  # fmt: skip
        uow.session.add(email)
        await uow.session.flush()
        await uow.add_job(EMAIL_JOB, {"email_id": email.id}, queue="email")
    return {
        "sent": True,
        "report": subscription.report,
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "rows": len(table.rows),
        "fileId": stored["xlsx"],
        "csvFileId": stored["csv"],
    }


async def send_reports(rt: Runtime, job: Job) -> dict[str, Any]:
    """The scheduler's job (hourly)."""
    return dict(await send_due(rt))
