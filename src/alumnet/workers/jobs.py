"""The registry of job handlers: each calls one domain function."""

from __future__ import annotations

from typing import Any

from alumnet.domain.identity.mail import EMAIL_JOB
from alumnet.domain.ops import mail
from alumnet.domain.ops.jobs import JobHandler
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import Job
from alumnet.workers.mail import transport_for


async def send_email(rt: Runtime, job: Job) -> dict[str, Any]:
    return await mail.deliver(rt, job, transport_for(rt.settings))


HANDLERS: dict[str, JobHandler] = {
    EMAIL_JOB: send_email,
}

QUEUES = ("default", "email")
