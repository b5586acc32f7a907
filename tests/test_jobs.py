"""Jobs: recorded in the transaction, sent only after commit, retried, failures kept."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from alumnet.domain.identity.mail import EMAIL_JOB
from alumnet.persistence.models import Job
from tests.conftest import Api

JOBS = """query($status: [JobStatus!]) {
  jobs(filter: {status: $status}) {
    totalCount edges { node { id name status attempts maxAttempts lastError } }
  }
}"""


async def _job_count(api: Api) -> int:
    async with api.app.state.runtime.database.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(Job))).scalar_one())


async def test_rolled_back_work_never_sends_anything(api: Api) -> None:
    runtime = api.app.state.runtime
    with pytest.raises(RuntimeError):
        async with runtime.transaction() as uow:
            await uow.add_job(EMAIL_JOB, {"email_id": 1}, queue="email")
            raise RuntimeError("the change failed after asking for an e-mail")
    await api.run_jobs()
    assert await _job_count(api) == 0
    assert api.mailbox.messages == []


async def test_a_failing_job_is_retried_then_kept_for_inspection_with_its_error(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    runtime = api.app.state.runtime
    async with runtime.transaction() as uow:
        await uow.add_job("report.unknown", {"report_id": 7})
    await api.run_jobs()
    if api.settings.redis_url:
        # RQ schedules the retries; run the worker until they are spent.
        for _ in range(3):
            await api.run_jobs()
    body = await api.gql(JOBS, {"status": ["FAILED"]}, token=admin)
    [edge] = body["data"]["jobs"]["edges"]
    job = edge["node"]
    assert job["name"] == "report.unknown"
    # One attempt, plus one per retry interval configured (two in the tests).
    assert job["attempts"] == job["maxAttempts"] == len(api.settings.job_retry_intervals) + 1
    assert "no handler for job" in job["lastError"]
    # The message may quote what the job worked on: a developer sees the type alone.
    _, developer = await api.create_user("dev@example.org", ["DEVELOPER"])
    body = await api.gql(JOBS, {"status": ["FAILED"]}, token=developer)
    [edge] = body["data"]["jobs"]["edges"]
    assert edge["node"]["lastError"] == "LookupError"


async def test_whoever_asked_for_a_failed_job_reads_its_message(api: Api) -> None:
    from strawberry import relay

    from alumnet.schema.nodes import global_pk

    manager_id, manager = await api.create_user("manager@example.org", ["MANAGER"])
    _, developer = await api.create_user("dev@example.org", ["DEVELOPER"])
    _, student = await api.create_user("stu@example.org", ["STUDENT"])
    runtime = api.app.state.runtime
    actor = global_pk(relay.GlobalID.from_id(manager_id), "User")
    async with runtime.transaction(actor_id=actor) as uow:
        job = await uow.add_job("report.unknown", {"report_id": 7}, max_attempts=1)
        job_id = str(relay.GlobalID("Job", str(job.id)))
    await api.run_jobs()
    node = "query($id: ID!) { node(id: $id) { ... on Job { status lastError } } }"
    mine = (await api.gql(node, {"id": job_id}, token=manager))["data"]["node"]
    assert mine["status"] == "FAILED" and "no handler for job" in mine["lastError"]
    theirs = (await api.gql(node, {"id": job_id}, token=developer))["data"]["node"]
    assert theirs["lastError"] == "LookupError"
    hidden = await api.gql(node, {"id": job_id}, token=student)
    assert hidden["data"]["node"] is None


async def test_successful_email_job_is_visible_to_job_readers_only(api: Api) -> None:
    _, developer = await api.create_user("dev@example.org", ["DEVELOPER"])
    _, student = await api.create_user("stu@example.org", ["STUDENT"])
    await api.gql(
        'mutation { passwordResetRequest(input: {email: "stu@example.org"}) { accepted } }'
    )
    await api.run_jobs()
    body = await api.gql(JOBS, {"status": ["SUCCEEDED"]}, token=developer)
    assert [e["node"]["name"] for e in body["data"]["jobs"]["edges"]] == ["email.send"]
    job_id = body["data"]["jobs"]["edges"][0]["node"]["id"]
    refused = await api.gql(JOBS, {}, token=student)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    hidden = await api.gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": job_id}, token=student
    )
    assert hidden["data"]["node"] is None
    assert len(api.mailbox.to("stu@example.org")) == 1


async def test_each_email_is_sent_once_even_if_its_job_runs_twice(api: Api) -> None:
    from alumnet.domain.ops.jobs import execute
    from alumnet.workers.jobs import HANDLERS

    await api.create_user("stu@example.org", ["STUDENT"])
    await api.gql(
        'mutation { passwordResetRequest(input: {email: "stu@example.org"}) { accepted } }'
    )
    await api.run_jobs()
    runtime = api.app.state.runtime
    async with runtime.database.connect() as conn:
        job_id = (await conn.execute(select(Job.id))).scalar_one()
        await conn.execute(Job.__table__.update().values(status="retrying"))
        await conn.commit()
    await execute(runtime, job_id, HANDLERS)  # a re-delivery, as RQ may do
    assert len(api.mailbox.to("stu@example.org")) == 1


async def test_a_job_delivered_twice_runs_once(api: Api) -> None:
    """RQ runs a job at least once; a duplicate delivery must not run it again."""
    from alumnet.domain.ops.jobs import execute
    from alumnet.workers.jobs import HANDLERS

    await api.create_user("stu@example.org", ["STUDENT"])
    runtime = api.app.state.runtime
    async with runtime.transaction() as uow:
        from alumnet.domain.identity.mail import queue_email
        from alumnet.domain.identity.users import user_by_email

        user = await user_by_email(uow, "stu@example.org")
        assert user is not None
        await queue_email(uow, user=user, template="t", subject="Hello", body="Twice?")
    await api.run_jobs()
    async with runtime.database.connect() as conn:
        job_id = (await conn.execute(select(Job.id))).scalar_one()
    assert await execute(runtime, job_id, HANDLERS) == "succeeded"
    assert len(api.mailbox.to("stu@example.org")) == 1
