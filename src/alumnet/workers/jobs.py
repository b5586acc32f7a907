"""The registry of job handlers: each calls one domain function."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alumnet.domain.academics import feedback as academics_feedback
from alumnet.domain.admissions import scoring as admissions_scoring
from alumnet.domain.admissions import tasks as admissions_tasks
from alumnet.domain.analytics import early_warning
from alumnet.domain.analytics import scheduled as scheduled_reports
from alumnet.domain.careers import postings, search
from alumnet.domain.communication import notifications, reminders
from alumnet.domain.community import photos, previews
from alumnet.domain.community import references as reference_requests
from alumnet.domain.data import bulk, exports, files, imports
from alumnet.domain.engagement import certificates, points
from alumnet.domain.engagement.rules import RECALCULATE_JOB
from alumnet.domain.events import reminders as event_reminders
from alumnet.domain.giving import pledges
from alumnet.domain.giving import receipts as giving_receipts
from alumnet.domain.identity.mail import EMAIL_JOB
from alumnet.domain.mentorship import assignment as mentor_assignment
from alumnet.domain.mentorship import requests as mentorship_requests
from alumnet.domain.mentorship import sessions as mentorship_sessions
from alumnet.domain.ops import mail, webhooks
from alumnet.domain.ops.jobs import JobHandler, report_progress
from alumnet.domain.outreach import risk
from alumnet.domain.people import duplicates, personal_data
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import Job
from alumnet.workers.mail import transport_for


async def send_email(rt: Runtime, job: Job) -> dict[str, Any]:
    return await mail.deliver(rt, job, transport_for(rt.settings))


async def recalculate_points(rt: Runtime, job: Job) -> dict[str, Any]:
    async def progress(fraction: float) -> None:
        await report_progress(rt, job, fraction)

    return await points.recalculate(rt, int(job.args["mission_id"]), progress)


async def refresh_risk(rt: Runtime, job: Job) -> dict[str, Any]:
    mission_id = job.args.get("mission_id")
    return await risk.refresh(rt, int(mission_id) if mission_id is not None else None)


async def send_digests(rt: Runtime, job: Job) -> dict[str, Any]:
    return await notifications.send_digests(rt)


async def send_reminders(rt: Runtime, job: Job) -> dict[str, Any]:
    return await reminders.send_reminders(rt)


async def issue_certificates(rt: Runtime, job: Job) -> dict[str, Any]:
    return await certificates.issue(rt, int(job.args["mission_id"]))


async def find_duplicates(rt: Runtime, job: Job) -> dict[str, Any]:
    return await duplicates.find(rt)


async def export_personal_data(rt: Runtime, job: Job) -> dict[str, Any]:
    return await personal_data.export(rt, int(job.args["user_id"]))


async def run_import(rt: Runtime, job: Job) -> dict[str, Any]:
    import_id = int(job.args["import_id"])

    async def progress(done: imports.Progress) -> None:
        # A fraction of the bytes is not known while streaming: report rows done instead.
        await report_progress(rt, job, min(0.99, done.processed / max(done.processed + 1000, 1)))

    return await imports.execute(rt, import_id, progress, job_id=job.id)


async def roll_back_import(rt: Runtime, job: Job) -> dict[str, Any]:
    return await imports.rollback(rt, int(job.args["import_id"]), job_id=job.id)


async def resume_stopped_imports(rt: Runtime, job: Job) -> dict[str, Any]:
    return {"resumed": await imports.resume_stopped(rt)}


async def produce_export(rt: Runtime, job: Job) -> dict[str, Any]:
    return await exports.produce(rt, dict(job.args))


async def run_bulk_query(rt: Runtime, job: Job) -> dict[str, Any]:
    async def progress(fraction: float) -> None:
        await report_progress(rt, job, fraction)

    return await bulk.run(rt, dict(job.args), progress)


async def delete_expired_files(rt: Runtime, job: Job) -> dict[str, Any]:
    return await files.delete_expired(rt)


async def close_expired_postings(rt: Runtime, job: Job) -> dict[str, Any]:
    return await postings.close_expired(rt)


async def notify_search_matches(rt: Runtime, job: Job) -> dict[str, Any]:
    return await search.notify_matches(rt)


async def remind_of_events(rt: Runtime, job: Job) -> dict[str, Any]:
    return dict(await event_reminders.run(rt))


async def expire_mentorship_requests(rt: Runtime, job: Job) -> dict[str, Any]:
    return dict(await mentorship_requests.expire(rt))


async def remind_of_mentorship_sessions(rt: Runtime, job: Job) -> dict[str, Any]:
    return dict(await mentorship_sessions.remind(rt))


async def auto_assign_mentors(rt: Runtime, job: Job) -> dict[str, Any]:
    async def progress(fraction: float) -> None:
        await report_progress(rt, job, fraction)

    return await mentor_assignment.run(rt, dict(job.args), progress)


async def process_photo(rt: Runtime, job: Job) -> dict[str, Any]:
    return await photos.process(rt, int(job.args["photo_id"]))


async def sweep_photos(rt: Runtime, job: Job) -> dict[str, Any]:
    return dict(await photos.sweep(rt))


async def sweep_reference_requests(rt: Runtime, job: Job) -> dict[str, Any]:
    return dict(await reference_requests.sweep(rt))


async def sweep_pledges(rt: Runtime, job: Job) -> dict[str, Any]:
    return dict(await pledges.sweep(rt))


async def send_gift_receipt(rt: Runtime, job: Job) -> dict[str, Any]:
    after = job.args.get("after")
    return dict(
        await giving_receipts.send(
            rt, int(job.args["gift_id"]), datetime.fromisoformat(after) if after else None
        )
    )


async def remind_of_inquiry_tasks(rt: Runtime, job: Job) -> dict[str, Any]:
    return dict(await admissions_tasks.remind(rt))


async def score_feedback(rt: Runtime, job: Job) -> dict[str, Any]:
    ids = job.args.get("ids")
    return await academics_feedback.score_pending(
        rt, [int(i) for i in ids] if ids is not None else None
    )


async def send_yearly_receipts(rt: Runtime, job: Job) -> dict[str, Any]:
    year = job.args.get("year")
    return dict(await giving_receipts.send_yearly(rt, int(year) if year is not None else None))


async def rescore_inquiries(rt: Runtime, job: Job) -> dict[str, Any]:
    return dict(await admissions_scoring.rescore_all(rt))


async def deliver_webhook(rt: Runtime, job: Job) -> dict[str, Any]:
    return await webhooks.deliver(rt, int(job.args["delivery_id"]))


async def retry_webhooks(rt: Runtime, job: Job) -> dict[str, Any]:
    return await webhooks.retry_due(rt)


HANDLERS: dict[str, JobHandler] = {
    EMAIL_JOB: send_email,
    RECALCULATE_JOB: recalculate_points,
    risk.REFRESH_JOB: refresh_risk,
    early_warning.TRAIN_JOB: early_warning.run,
    notifications.DIGEST_JOB: send_digests,
    reminders.REMINDERS_JOB: send_reminders,
    certificates.ISSUE_JOB: issue_certificates,
    duplicates.FIND_JOB: find_duplicates,
    personal_data.EXPORT_JOB: export_personal_data,
    imports.IMPORT_JOB: run_import,
    imports.ROLLBACK_JOB: roll_back_import,
    imports.RESUME_JOB: resume_stopped_imports,
    exports.EXPORT_JOB: produce_export,
    files.CLEANUP_JOB: delete_expired_files,
    bulk.BULK_JOB: run_bulk_query,
    postings.CLOSE_JOB: close_expired_postings,
    search.SAVED_SEARCH_JOB: notify_search_matches,
    event_reminders.REMINDERS_JOB: remind_of_events,
    mentorship_requests.EXPIRE_JOB: expire_mentorship_requests,
    mentorship_sessions.REMINDERS_JOB: remind_of_mentorship_sessions,
    mentor_assignment.AUTO_ASSIGN_JOB: auto_assign_mentors,
    scheduled_reports.SEND_JOB: scheduled_reports.send_reports,
    scheduled_reports.REPORT_JOB: scheduled_reports.report,
    reference_requests.SWEEP_JOB: sweep_reference_requests,
    pledges.SWEEP_JOB: sweep_pledges,
    photos.PROCESS_JOB: process_photo,
    photos.SWEEP_JOB: sweep_photos,
    previews.LINK_PREVIEW_JOB: previews.make,
    giving_receipts.RECEIPT_JOB: send_gift_receipt,
    giving_receipts.YEARLY_JOB: send_yearly_receipts,
    academics_feedback.SENTIMENT_JOB: score_feedback,
    admissions_tasks.REMINDERS_JOB: remind_of_inquiry_tasks,
    admissions_scoring.RESCORE_JOB: rescore_inquiries,
    webhooks.DELIVER_JOB: deliver_webhook,
    webhooks.RETRY_JOB: retry_webhooks,
}

QUEUES = ("default", "email")
