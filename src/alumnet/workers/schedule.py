"""Jobs that run on a schedule: RQ's cron scheduler with Redis (`alumnet scheduler`), or a
loop inside `alumnet serve` on the embedded default. Either way the job is recorded as a
row first and then queued, like any other job."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

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


async def record(runtime: Runtime, name: str, args: dict[str, Any]) -> int:
    async with runtime.transaction() as uow:
        job = await uow.add_job(name, args)
        return job.id


def run_scheduled(name: str, args: dict[str, Any]) -> int:
    """What RQ's cron scheduler enqueues: record the job (queued after commit)."""
    from alumnet.bootstrap import build_runtime, close_runtime
    from alumnet.config import load_settings

    async def go() -> int:
        runtime, dispatcher = build_runtime(load_settings(), worker=True)
        try:
            return await record(runtime, name, args)
        finally:
            await close_runtime(runtime, dispatcher)

    return asyncio.run(go())


async def catch_up(runtime: Runtime) -> None:
    """Record the ``AT_START`` jobs, as a scheduler does when it starts."""
    for name, args in AT_START:
        try:
            await record(runtime, name, args)
        except Exception:  # pragma: no cover - logged; the schedule goes on
            log.exception("scheduled_job_failed", job=name)


async def run_in_process(runtime: Runtime) -> None:
    """The embedded default's scheduler: catch up, then sleep until the next due job,
    record it, repeat."""
    await catch_up(runtime)
    while True:
        now = datetime.now(UTC)
        due = [
            (croniter(cron, now).get_next(datetime), name, args) for name, args, cron in SCHEDULE
        ]
        when, name, args = min(due, key=lambda d: d[0])
        await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))
        try:
            await record(runtime, name, args)
        except Exception:  # pragma: no cover - logged, and tried again next time
            log.exception("scheduled_job_failed", job=name)
