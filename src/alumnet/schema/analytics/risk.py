"""Early warning in GraphQL (docs/EARLY_WARNING.md): `Enrollment.risk`, the latest model's
training (`riskModel`) and `riskModelTrain`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Self

import strawberry

from alumnet.domain.analytics import early_warning
from alumnet.domain.identity.permissions import Permission
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, run_in_transaction
from alumnet.schema.ops.types import Job, job_node
from alumnet.schema.pagination import reads_loader
from alumnet.schema.permissions import may_in_mission, requires

ev = strawberry.enum_value


@strawberry.type(description="One thing that weighs on a student's predicted risk.")
class RiskFactor:
    name: str = strawberry.field(
        description="A stable key: `attendance_rate`, `attendance_recent`, "
        "`days_since_present`, `missed_share`, `late_share`, `mean_grade`, "
        "`points_percentile` or `integrity_flags` (a later model may add others)."
    )
    label: str = strawberry.field(description="What it is, in words.")
    value: float | None = strawberry.field(
        description="The student's value: a share from 0 to 1 (attendance, assignments "
        "missed or late, mean grade of the marks available, points percentile), days "
        "(since last present) or a count (flags); null when unknown (no graded work yet)."
    )
    contribution: float = strawberry.field(
        description="How much it moves the prediction, in log-odds: the model's coefficient "
        "times the student's standardised value. Positive raises the risk, negative lowers it."
    )


@strawberry.type(
    description="A student's predicted chance of finishing the mission below its bar (the "
    "completion rule), by the latest early-warning model, with the factors that raise it most."
)
class EnrollmentRisk:
    probability: float = strawberry.field(description="From 0 to 1.")
    factors: list[RiskFactor] = strawberry.field(
        description="The three factors that raise the risk most, largest first (at most 3)."
    )
    model_version: str = strawberry.field(description="The model that made the prediction.")
    computed_at: datetime = strawberry.field(description="When it was made (UTC).")


def _risk_from(row: Any) -> EnrollmentRisk:
    return EnrollmentRisk(
        probability=float(row.probability),
        factors=[
            RiskFactor(
                name=str(f["name"]),
                label=str(f["label"]),
                value=None if f.get("value") is None else float(f["value"]),
                contribution=float(f["contribution"]),
            )
            for f in row.factors or []
        ],
        model_version=row.version,
        computed_at=row.computed_at,
    )


async def enrollment_risk(info: Info, enrollment: Any) -> EnrollmentRisk | None:
    """An active enrolment's prediction for those who see the at-risk lists of it:
    `outreach` or `cohorts:manage` held everywhere or within the mission or its batch, and
    the student's mentors in the mission (assigned to them, or mentoring it whole); never
    the student. Null once the enrolment is no longer active (the loader's SQL). The
    predictions of every enrolment in the response come in one statement."""
    viewer = info.context.viewer
    if viewer.user_id is None or viewer.user_id == enrollment._student_id:
        return None
    mission_id = enrollment._mission_id
    if not (
        await may_in_mission(info, Permission.OUTREACH, mission_id)
        or await may_in_mission(info, Permission.COHORTS_MANAGE, mission_id)
        or (mission_id, enrollment._student_id) in (await info.context.cohort_scope()).mentees
    ):
        return None
    row = await reads_loader(
        info, ("analytics", "enrollment.risk"), early_warning.predictions_by_enrollment_id
    ).load(enrollment.id)
    return _risk_from(row) if row is not None else None


@strawberry.enum(description="What the latest training came to.")
class RiskModelStatus(Enum):
    TRAINED = ev("trained", description="A model was learned; active students have predictions.")
    INSUFFICIENT = ev(
        "insufficient",
        description="Too little history (see `reason`): no predictions; the at-risk rules "
        "(`Mission.atRisk`) are the only signal.",
    )
    UNTRAINED = ev(
        "untrained",
        description="No training yet: no predictions; the at-risk rules are the only signal.",
    )


UNTRAINED_REASON = "No training yet. " + early_warning.RULES_ONLY


@strawberry.type(description="Predictions of one range of probabilities against what happened.")
class CalibrationBin:
    bin: int = strawberry.field(
        description="0 to 9: predictions from bin/10 up to (bin + 1)/10 (the last includes 1)."
    )
    predicted: float = strawberry.field(description="Their mean predicted probability.")
    observed: float = strawberry.field(description="The share that did finish below the bar.")
    count: int = strawberry.field(description="How many predictions fell in this range.")


@strawberry.type(
    description="How good the model was on missions it never saw: each finished mission's "
    "enrolments predicted by a model trained without that mission (grouped k-fold)."
)
class RiskModelQuality:
    auc: float | None = strawberry.field(
        description="Area under the ROC curve, 0.5 (chance) to 1 (perfect ranking); null "
        "when the history had one outcome only."
    )
    brier: float = strawberry.field(
        description="Brier score: the mean squared error of the probabilities (0 is perfect; "
        "lower is better)."
    )
    positive_rate: float = strawberry.field(
        description="The share of samples that finished below the bar."
    )
    folds: int = strawberry.field(description="Into how many groups of missions it was split.")
    calibration: list[CalibrationBin] = strawberry.field(
        description="Predicted against observed, in tenths of probability; only ranges that "
        "hold predictions (at most 10)."
    )


@strawberry.type(description="What the model learned of one feature.")
class RiskModelFeature:
    name: str = strawberry.field(description="The feature's key (as `RiskFactor.name`).")
    label: str = strawberry.field(description="What it is, in words.")
    coefficient: float = strawberry.field(
        description="Log-odds per standard deviation of the feature: positive raises the risk."
    )
    mean: float = strawberry.field(description="Its mean over the training samples.")
    scale: float = strawberry.field(description="Its standard deviation over them.")


@strawberry.type(
    description="The latest training of the early-warning model: on which history, how good "
    "on held-out missions, what it learned; or why there are no predictions."
)
class RiskModel:
    status: RiskModelStatus = strawberry.field(
        description="Trained, too little history, or not trained yet."
    )
    reason: str | None = strawberry.field(
        description="Why there are no predictions (too little history, or no training yet); "
        "null when trained."
    )
    version: str | None = strawberry.field(
        description="Its version, as predictions name it; null before the first training."
    )
    algorithm: str = strawberry.field(
        description="`logistic_regression` (scikit-learn, on standardised features)."
    )
    missions: int = strawberry.field(description="Finished missions learned from.")
    enrollments: int = strawberry.field(
        description="Their enrolments that took part at one of the stages at least."
    )
    samples: int = strawberry.field(
        description="Training samples: each finished enrolment at a quarter, a half and three "
        "quarters of its mission, where it took part then (enrolled, and active or completed)."
    )
    quality: RiskModelQuality | None = strawberry.field(
        description="Quality on held-out missions; null when insufficient."
    )
    features: list[RiskModelFeature] = strawberry.field(
        description="What it learned of each feature (at most 8); empty when insufficient."
    )
    trained_at: datetime | None = strawberry.field(
        description="When it was trained (UTC); null before the first training."
    )
    _id: strawberry.Private[int | None] = None

    @classmethod
    def untrained(cls) -> Self:
        return cls(
            status=RiskModelStatus.UNTRAINED, reason=UNTRAINED_REASON, version=None,
            algorithm=early_warning.ALGORITHM, missions=0, enrollments=0, samples=0,
            quality=None, features=[], trained_at=None,
        )  # fmt: skip

    @classmethod
    def from_row(cls, row: Any) -> Self:
        quality = row.quality or {}
        parameters = row.parameters or {}
        measured = None
        if row.status == early_warning.TRAINED and "brier" in quality:
            measured = RiskModelQuality(
                auc=quality.get("auc"),
                brier=float(quality["brier"]),
                positive_rate=float(quality.get("positiveRate", 0.0)),
                folds=int(quality.get("folds", 0)),
                calibration=[
                    CalibrationBin(bin=int(b["bin"]), predicted=float(b["predicted"]),
                                   observed=float(b["observed"]), count=int(b["count"]))
                    for b in quality.get("calibration", [])
                ],
            )  # fmt: skip
        features = [
            RiskModelFeature(name=n, label=early_warning.LABELS.get(n, n), coefficient=c,
                             mean=m, scale=s)
            for n, c, m, s in zip(
                parameters.get("features", []), parameters.get("coefficients", []),
                parameters.get("means", []), parameters.get("scales", []), strict=False,
            )
        ]  # fmt: skip
        return cls(
            _id=row.id,
            version=row.version,
            status=RiskModelStatus(row.status),
            reason=quality.get("reason") if row.status != early_warning.TRAINED else None,
            algorithm=row.algorithm,
            missions=row.missions,
            enrollments=int(quality.get("enrollments", 0)),
            samples=row.samples,
            quality=measured,
            features=features,
            trained_at=row.trained_at,
        )

    @strawberry.field(
        description="How many students, still active, have a prediction by this model (0 when "
        "there are none: too little history, or no training yet)."
    )
    async def predictions(self, info: Info) -> int:
        if self._id is None:
            return 0
        return await early_warning.predictions_of_model(info.context.reads, self._id)


@strawberry.type
class RiskQuery:
    @strawberry.field(
        description="The latest training of the early-warning model (`analytics:read`; "
        "nightly at 02:20 UTC, or `riskModelTrain`): its status, version, quality on held-out "
        "missions and what it learned, or why there are no predictions.",
        extensions=requires(Permission.ANALYTICS_READ),
    )
    async def risk_model(self, info: Info) -> RiskModel:
        row = await early_warning.latest_model(info.context.reads)
        return RiskModel.from_row(row) if row is not None else RiskModel.untrained()


@strawberry.enum(description="Why an early-warning mutation failed.")
class RiskModelErrorCode(Enum):
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an early-warning mutation.")
class RiskModelError(UserError):
    code: RiskModelErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The training job, or why there is none.")
class RiskModelTrainPayload:
    job: Job | None = strawberry.field(
        description="Follow it with `jobUpdated(id:)`; its result has the quality or the reason."
    )
    user_errors: list[RiskModelError] = strawberry.field(description="Empty on success.")


@strawberry.type
class RiskMutation:
    @strawberry.mutation(
        description="Train the early-warning model now, in the background (otherwise nightly), "
        "and predict again for every active student: `analytics:read` and `cohorts:manage` "
        "held everywhere (managers and admins). A training already waiting or running is "
        "answered instead of a second one."
    )
    async def risk_model_train(self, info: Info) -> RiskModelTrainPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: early_warning.request_training(uow, viewer)
        )
        return RiskModelTrainPayload(
            job=await job_node(info, found),
            user_errors=user_errors(RiskModelError, RiskModelErrorCode, problems),
        )
