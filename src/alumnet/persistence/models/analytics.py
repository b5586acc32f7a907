"""Analytics: the early-warning model's runs and each active student's prediction, and the
reports staff receive on a schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


def _fk(table: str, *, nullable: bool = False, index: bool = False) -> Any:
    return mapped_column(
        BigId,
        ForeignKey(f"{table}.id", ondelete="SET NULL" if nullable else "CASCADE"),
        index=index,
        nullable=nullable,
    )


# -- early warning ---------------------------------------------------------------------------


class RiskModel(Base):
    """One nightly training: on which history, how good on held-out missions, and what it
    learned (or why it could not: too little history, and the rules alone apply)."""

    __tablename__ = "risk_models"

    id: Mapped[IdPK]
    version: Mapped[str] = mapped_column(String(40), unique=True)
    # trained, insufficient (too little history: the at-risk rules only)
    status: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str] = mapped_column(String(40))
    missions: Mapped[int] = mapped_column(Integer, default=0)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    # AUC, Brier score, calibration bins on held-out missions; the reason when insufficient.
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What the model learned, enough to explain and to predict again (coefficients, scaling).
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    job_id: Mapped[int | None] = _fk("jobs", nullable=True)
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)


class RiskPrediction(Base):
    """An active student's chance of finishing below the mission's bar, by the newest model,
    with the factors that weigh most."""

    __tablename__ = "risk_predictions"
    __table_args__ = (
        Index("ix_risk_predictions_mission_probability", "mission_id", "probability"),
    )

    enrollment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("enrollments.id", ondelete="CASCADE"), primary_key=True
    )
    mission_id: Mapped[int] = _fk("missions")
    student_id: Mapped[int] = _fk("users", index=True)
    probability: Mapped[float] = mapped_column(Float)
    # [{"name": ..., "label": ..., "value": ..., "contribution": ...}]: the three raising the
    # probability most, largest first (contribution: coefficient x standardised value).
    factors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    model_id: Mapped[int] = _fk("risk_models", index=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- scheduled reports -----------------------------------------------------------------------


class ReportSubscription(Base):
    """A staff member's standing order for a report, built and e-mailed weekly or monthly."""

    __tablename__ = "report_subscriptions"
    __table_args__ = (Index("ix_report_subscriptions_due", "active", "next_run_at"),)

    id: Mapped[IdPK]
    user_id: Mapped[int] = _fk("users", index=True)
    report: Mapped[str] = mapped_column(String(40))
    frequency: Mapped[str] = mapped_column(String(16))  # weekly, monthly
    # The report's filters (mission, batch, how many days back …), as its query takes them.
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why alumnet stopped it (its owner may no longer read the report); None while active
    # or when its owner paused it.
    stopped_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    next_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_job_id: Mapped[int | None] = _fk("jobs", nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
