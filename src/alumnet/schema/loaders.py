"""Fresh dataloaders for every request, one attribute per relation."""

from __future__ import annotations

from collections.abc import Hashable
from functools import partial
from typing import Any

from sqlalchemy import Row
from strawberry.dataloader import DataLoader

from alumnet.persistence.db import Reader
from alumnet.persistence.loaders import cohorts, identity, ops


class Loaders:
    def __init__(self, db: Reader) -> None:
        # Nested connections: one loader per (list, page window), created on first use.
        self.batches: dict[Hashable, DataLoader[Any, Any]] = {}
        self.user_by_id: DataLoader[int, Row[Any] | None] = DataLoader(
            load_fn=partial(identity.users_by_id, db)
        )
        self.roles_by_user_id: DataLoader[int, list[str]] = DataLoader(
            load_fn=partial(identity.roles_by_user_id, db)
        )
        self.token_by_id: DataLoader[int, Row[Any] | None] = DataLoader(
            load_fn=partial(identity.tokens_by_id, db)
        )
        self.two_factor_by_user_id: DataLoader[int, Row[Any] | None] = DataLoader(
            load_fn=partial(identity.two_factor_by_user_id, db)
        )
        self.session_by_id: DataLoader[int, Row[Any] | None] = DataLoader(
            load_fn=partial(identity.sessions_by_id, db)
        )
        self.audit_event_by_id: DataLoader[int, Row[Any] | None] = DataLoader(
            load_fn=partial(identity.audit_events_by_id, db)
        )
        self.job_by_id: DataLoader[int, Row[Any] | None] = DataLoader(
            load_fn=partial(ops.jobs_by_id, db)
        )
        self.batch_by_id: DataLoader[int, Any] = DataLoader(
            load_fn=partial(cohorts.batches_by_id, db)
        )
        self.mission_by_id: DataLoader[int, Any] = DataLoader(
            load_fn=partial(cohorts.missions_by_id, db)
        )
        self.enrollment_by_id: DataLoader[int, Any] = DataLoader(
            load_fn=partial(cohorts.enrollments_by_id, db)
        )
        self.assignment_by_id: DataLoader[int, Any] = DataLoader(
            load_fn=partial(cohorts.assignments_by_id, db)
        )
        self.mentors_by_enrollment_id: DataLoader[int, list[Any]] = DataLoader(
            load_fn=partial(cohorts.mentors_by_enrollment_id, db)
        )
        self.mentor_loads_by_mission_id: DataLoader[int, list[Any]] = DataLoader(
            load_fn=partial(cohorts.mentor_loads_by_mission_id, db)
        )
