"""Jobs that run on a schedule: RQ's cron scheduler with Redis (`alumnet scheduler`), or a
loop inside `alumnet serve` on the embedded default. Either way the job is recorded as a
row first and then queued, like any other job.

Each scheduled job is recorded with the key of its slot ("name@2026-12-05T10:15Z"), which
the jobs table keeps unique: two schedulers running side by side (a spare, or an old and a
new one during a deploy) record one job per slot, whichever is first.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from croniter import croniter
from rq.cron import CronScheduler
from rq.exceptions import StopRequested
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from alumnet.domain.academics.feedback import SENTIMENT_JOB as FEEDBACK_SENTIMENT_JOB
from alumnet.domain.admissions.scoring import RESCORE_JOB as INQUIRY_RESCORE_JOB
from alumnet.domain.admissions.tasks import REMINDERS_JOB as INQUIRY_TASKS_JOB
from alumnet.domain.analytics.early_warning import TRAIN_JOB as RISK_TRAIN_JOB
from alumnet.domain.analytics.scheduled import SEND_JOB as REPORTS_SEND_JOB
from alumnet.domain.careers.postings import CLOSE_JOB
from alumnet.domain.careers.search import SAVED_SEARCH_JOB
from alumnet.domain.communication.notifications import DIGEST_JOB
from alumnet.domain.communication.reminders import REMINDERS_JOB
from alumnet.domain.community.photos import SWEEP_JOB as PHOTOS_SWEEP_JOB
from alumnet.domain.community.references import SWEEP_JOB as REFERENCES_SWEEP_JOB
from alumnet.domain.data.files import CLEANUP_JOB
from alumnet.domain.data.imports import RESUME_JOB as IMPORTS_RESUME_JOB
from alumnet.domain.events import reminders as event_reminders
from alumnet.domain.giving.pledges import SWEEP_JOB as PLEDGES_SWEEP_JOB
from alumnet.domain.giving.receipts import YEARLY_JOB as GIVING_YEARLY_JOB
from alumnet.domain.mentorship.requests import EXPIRE_JOB as MENTORSHIP_EXPIRE_JOB
from alumnet.domain.mentorship.sessions import REMINDERS_JOB as SESSION_REMINDERS_JOB
from alumnet.domain.ops.webhooks import RETRY_JOB as WEBHOOKS_RETRY_JOB
from alumnet.domain.outreach.risk import REFRESH_JOB
from alumnet.domain.people.duplicates import FIND_JOB
from alumnet.domain.runtime import Runtime
from alumnet.observability import get_logger
from alumnet.persistence.models import Job

log = get_logger(__name__)

# (job name, arguments, cron expression in UTC)
SCHEDULE: list[tuple[str, dict[str, Any], str]] = [
    (REFRESH_JOB, {"mission_id": None}, "0 2 * * *"),  # nightly: bans ending, at-risk lists
    (RISK_TRAIN_JOB, {}, "20 2 * * *"),  # nightly, after the at-risk lists: early warning
    (DIGEST_JOB, {}, "0 6 * * *"),  # daily digest e-mails
    (REMINDERS_JOB, {}, "*/15 * * * *"),  # reminders and alerts, each sent once
    (FIND_JOB, {}, "30 2 * * *"),  # nightly: likely duplicate people
    (CLEANUP_JOB, {}, "45 2 * * *"),  # nightly: expired export files
    (PHOTOS_SWEEP_JOB, {}, "50 2 * * *"),  # nightly: photos failed or never put to use
    (CLOSE_JOB, {}, "5 0 * * *"),  # nightly: job postings past their closing date
    (SAVED_SEARCH_JOB, {}, "20 * * * *"),  # hourly: new postings matching saved searches
    # Every five minutes: events' reminders (a day and an hour before), ended ones completed.
    (event_reminders.REMINDERS_JOB, {}, "*/5 * * * *"),
    (MENTORSHIP_EXPIRE_JOB, {}, "15 0 * * *"),  # nightly: unanswered mentorship requests
    (SESSION_REMINDERS_JOB, {}, "*/5 * * * *"),  # mentorship sessions: a day, an hour before
    (IMPORTS_RESUME_JOB, {}, "*/5 * * * *"),  # imports whose worker stopped, to go on
    (REPORTS_SEND_JOB, {}, "10 * * * *"),  # hourly: scheduled reports that are due
    # Daily: reference requests past their deadline expire; writers reminded once before.
    (REFERENCES_SWEEP_JOB, {}, "30 6 * * *"),
    # Daily: pledge instalments due, reminded, missed; lapsed pledges; open-ended extended.
    (PLEDGES_SWEEP_JOB, {}, "40 0 * * *"),
    # Daily in January: each donor with an account e-mailed last year's giving summary once.
    (GIVING_YEARLY_JOB, {}, "0 7 * 1 *"),
    # Nightly: feedback whose sentiment job failed or was lost, scored (and alerted) now.
    (FEEDBACK_SENTIMENT_JOB, {}, "55 2 * * *"),
    # Admissions follow-up tasks due within the hour or overdue: each assignee reminded once.
    (INQUIRY_TASKS_JOB, {}, "*/15 * * * *"),
    # Daily: open inquiries' lead scores again (recency falls with every day without contact).
    (INQUIRY_RESCORE_JOB, {}, "50 0 * * *"),
    # Every five minutes: failed webhook deliveries whose back-off has passed, sent again.
    (WEBHOOKS_RETRY_JOB, {}, "*/5 * * * *"),
]

# Recorded once more when a scheduler starts: jobs that send only what is due and never
# twice, so that a server down at the quarter hour (or a demo just loaded) catches up.
AT_START: list[tuple[str, dict[str, Any]]] = [
    (REMINDERS_JOB, {}),
    (event_reminders.REMINDERS_JOB, {}),
    (SESSION_REMINDERS_JOB, {}),
    (REFERENCES_SWEEP_JOB, {}),
    (INQUIRY_TASKS_JOB, {}),
]


# Catch-up jobs of schedulers started within the same quarter hour share one key.
AT_START_WINDOW = timedelta(minutes=15)


def due_time(cron: str, at: datetime) -> datetime:
    """The due time of ``cron`` (UTC) nearest to ``at``: a scheduler that fires a little
    late, or whose clock runs a little ahead, finds the same slot as one on time."""
    minute = at.replace(second=0, microsecond=0)
    candidates: list[datetime] = [
        croniter(cron, at).get_prev(datetime),
        croniter(cron, at).get_next(datetime),
    ]
    if croniter.match(cron, minute):
        candidates.append(minute)  # croniter steps over ``at`` itself when it is due
    return min(candidates, key=lambda when: abs((when - at).total_seconds()))


def slot_key(name: str, cron: str, at: datetime) -> str:
    """The key of the slot of job ``name`` (scheduled by ``cron``) due nearest to ``at``."""
    return f"{name}@{due_time(cron, at.astimezone(UTC)):%Y-%m-%dT%H:%MZ}"


def start_key(name: str, at: datetime) -> str:
    """The key of a catch-up job recorded by a scheduler starting at ``at``: one per
    quarter hour, however many schedulers start in it."""
    at = at.astimezone(UTC)
    window = at - (at - at.replace(minute=0, second=0, microsecond=0)) % AT_START_WINDOW
    return f"{name}@start-{window:%Y-%m-%dT%H:%MZ}"


async def _recorded(runtime: Runtime, key: str) -> bool:
    async with runtime.database.connect() as conn:
        found = await conn.execute(select(Job.id).where(Job.schedule_key == key))
        return found.first() is not None


async def record(
    runtime: Runtime, name: str, args: dict[str, Any], key: str | None = None
) -> int | None:
    """Record job ``name`` (queued once committed) and return its id. With a slot ``key``,
    only if no job has that key yet: None when another scheduler (or this one) was first."""
    if key is not None and await _recorded(runtime, key):
        return None
    try:
        # A transaction of its own that writes first: SQLite waits for its write lock
        # rather than failing a read transaction that turns into a write.
        async with runtime.transaction() as uow:
            job = await uow.add_job(name, args, schedule_key=key)
            return job.id
    except IntegrityError:
        # Another scheduler recorded the slot between the look above and this insert.
        if key is None or not await _recorded(runtime, key):
            raise
        return None


def run_scheduled(name: str, args: dict[str, Any], cron: str | None = None) -> int | None:
    """What RQ's cron scheduler enqueues (a worker runs it): record the job of the slot
    due when the scheduler enqueued this (None if another scheduler recorded it first)."""
    from rq import get_current_job

    from alumnet.bootstrap import build_runtime, close_runtime
    from alumnet.config import load_settings

    key = None
    if cron is not None:  # None: enqueued by a scheduler of a version without keys
        # When the scheduler enqueued it (kept if RQ queues it again), not when a worker
        # got to it: a busy queue does not move it to another slot.
        made = getattr(get_current_job(), "created_at", None) or datetime.now(UTC)
        key = slot_key(name, cron, made if made.tzinfo else made.replace(tzinfo=UTC))

    async def go() -> int | None:
        runtime, dispatcher = build_runtime(load_settings(), worker=True)
        try:
            recorded = await record(runtime, name, args, key)
        finally:
            await close_runtime(runtime, dispatcher)
        if recorded is None:
            log.info("scheduled_job_already_recorded", job=name, slot=key)
        return recorded

    return asyncio.run(go())


async def catch_up(runtime: Runtime) -> list[str]:
    """Record the ``AT_START`` jobs, as a scheduler does when it starts (once a quarter
    hour, however many start); the names of those this call recorded."""
    now = datetime.now(UTC)
    recorded = []
    for name, args in AT_START:
        try:
            if await record(runtime, name, args, start_key(name, now)) is not None:
                recorded.append(name)
        except Exception:  # pragma: no cover - logged; the schedule goes on
            log.exception("scheduled_job_failed", job=name)
    return recorded


async def run_in_process(runtime: Runtime) -> None:
    """The embedded default's scheduler: catch up, then sleep until the next due time,
    record every job due then (with the same keys as `alumnet scheduler`), repeat."""
    await catch_up(runtime)
    after = datetime.now(UTC)
    while True:
        due = [
            (croniter(cron, after).get_next(datetime), name, args, cron)
            for name, args, cron in SCHEDULE
        ]
        when = min(d[0] for d in due)
        await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))
        for at, name, args, cron in due:
            if at != when:
                continue
            try:
                await record(runtime, name, args, slot_key(name, cron, when))
            except Exception:  # pragma: no cover - logged, and tried again next time
                log.exception("scheduled_job_failed", job=name)
        # From the later of the two: a machine that slept through many due times records
        # the one it woke at, not each one it missed.
        after = max(when, datetime.now(UTC))


class Scheduler(CronScheduler):
    """RQ's cron scheduler (`alumnet scheduler`), which may be asked to stop (SIGTERM,
    SIGINT) from the moment it exists. Asked while it catches up, it finishes catching up
    and then stops instead of starting. Once started, RQ's own handling stops it at once:
    it sleeps between due times, and what it enqueues is only a note for a worker to
    record the slot's job, which the key keeps from being recorded twice."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop_requested = False
        for asked in (signal.SIGTERM, signal.SIGINT):
            signal.signal(asked, self._stop_soon)

    def _stop_soon(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True

    def enqueue_jobs(self) -> Any:
        # Asked before `start` put RQ's handlers in place: stop, through RQ's own way out.
        if self.stop_requested:
            raise StopRequested()
        return super().enqueue_jobs()
