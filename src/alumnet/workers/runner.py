"""The entry point RQ calls in a worker process: one job id, run through the domain."""

from __future__ import annotations

import asyncio

from alumnet import tracing
from alumnet.config import load_settings
from alumnet.domain.ops.jobs import execute
from alumnet.workers.jobs import HANDLERS


def run_job(job_id: int) -> str:
    """Raises when the job failed, so that RQ retries it and keeps it in its failed registry."""
    return asyncio.run(_run(job_id))


async def _run(job_id: int) -> str:
    # The composition root imports the workers package: import it late.
    from alumnet.bootstrap import build_runtime, close_runtime

    runtime, dispatcher = build_runtime(load_settings(), worker=True)
    try:
        return await execute(runtime, job_id, HANDLERS)
    finally:
        await close_runtime(runtime, dispatcher)
        # RQ's work horse ends with os._exit, without atexit: the job's spans go now.
        tracing.flush()
