"""Two-factor sign-in and sessions: enrolment, turning off, an administrator's reset, and
ending one's own sessions."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry
from strawberry import relay

from alumnet.domain.errors import Problem
from alumnet.domain.identity import sessions, two_factor
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.identity.types import Session, User
from alumnet.schema.mutations import CODE_DESCRIPTION, arg, pk_of, run_in_transaction

ev = strawberry.enum_value


@strawberry.enum(description="Why a two-factor mutation failed.")
class TwoFactorErrorCode(Enum):
    INVALID_CODE = ev(
        "INVALID_CODE", description="The code is wrong, or was used already (five wrong lock)."
    )
    TWO_FACTOR_LOCKED = ev(
        "TWO_FACTOR_LOCKED", description="Too many wrong codes: wait 15 minutes."
    )
    ALREADY_ENABLED = ev("ALREADY_ENABLED", description="Two-factor sign-in is on already.")
    NOT_ENROLLING = ev(
        "NOT_ENROLLING", description="No enrolment to confirm: start with twoFactorEnroll."
    )
    TWO_FACTOR_NOT_ENABLED = ev(
        "TWO_FACTOR_NOT_ENABLED", description="Two-factor sign-in is not on for this user."
    )
    TWO_FACTOR_UNAVAILABLE = ev(
        "TWO_FACTOR_UNAVAILABLE",
        description="The authenticator's secret cannot be read with the configured keys: an "
        "administrator must reset it.",
    )
    PASSWORD_REQUIRED = ev(
        "PASSWORD_REQUIRED", description="Give your password (or sign in again first)."
    )
    INVALID_PASSWORD = ev("INVALID_PASSWORD", description="The password is wrong.")
    THROTTLED = ev("THROTTLED", description="Too many wrong passwords: wait a little.")
    NOT_FOUND = ev("NOT_FOUND", description="No such user.")
    FORBIDDEN = ev("FORBIDDEN", description="Not your own: turn yours off with twoFactorDisable.")
    INVALID = ev("INVALID", description="The input is not valid; see the message.")


@strawberry.type(description="A problem with a two-factor mutation's input.")
class TwoFactorError(UserError):
    code: TwoFactorErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="Who you are, to start enrolling an authenticator app.")
class TwoFactorEnrollInput:
    password: str | None = strawberry.field(
        default=None,
        description="Your password; not needed within ten minutes of signing in.",
    )


@strawberry.type(description="A new authenticator to set up, or why not.")
class TwoFactorEnrollPayload:
    secret: str | None = strawberry.field(
        description="The secret (base32) for apps that cannot scan: shown only here."
    )
    otpauth_uri: str | None = strawberry.field(
        description="The otpauth:// URI that authenticator apps read from a QR code."
    )
    qr_code_svg: str | None = strawberry.field(
        description="The QR code of otpauthUri, as a data: URI of an SVG image (for <img src>)."
    )
    user_errors: list[TwoFactorError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A first code from the authenticator app.")
class TwoFactorConfirmInput:
    code: str = strawberry.field(description="The six-digit code the app shows now.")


@strawberry.type(description="Recovery codes, shown once, or why there are none.")
class TwoFactorRecoveryCodesPayload:
    recovery_codes: list[str] | None = strawberry.field(
        description="Ten one-time codes that stand in for the app (each works once). Shown "
        "only here: keep them somewhere safe."
    )
    user_errors: list[TwoFactorError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Your password and a code, to turn two-factor sign-in off.")
class TwoFactorDisableInput:
    password: str = strawberry.field(description="Your password.")
    code: str = strawberry.field(description="A code from the app, or a recovery code.")


@strawberry.input(description="A current code, for new recovery codes.")
class TwoFactorRecoveryCodesRegenerateInput:
    code: str = strawberry.field(description="The six-digit code the app shows now.")


@strawberry.input(description="Whose two-factor sign-in to reset, and why.")
class TwoFactorResetInput:
    user_id: relay.GlobalID = strawberry.field(description="The user.")
    reason: str = strawberry.field(description="Why, for the audit log (up to 500 characters).")
    password: str | None = strawberry.field(
        default=None,
        description="Your own password; not needed within ten minutes of signing in.",
    )


@strawberry.type(description="The outcome of a two-factor change.")
class TwoFactorPayload:
    user: User | None = strawberry.field(description="The user whose sign-in changed.")
    user_errors: list[TwoFactorError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why a session mutation failed.")
class SessionErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such session of yours.")
    INVALID = ev("INVALID", description="The input is not valid; see the message.")


@strawberry.type(description="A problem with a session mutation's input.")
class SessionError(UserError):
    code: SessionErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="One of your sessions to end.")
class SessionRevokeInput:
    id: relay.GlobalID = strawberry.field(description="The session (from viewer.sessions).")


@strawberry.type(description="The session ended, or why not.")
class SessionRevokePayload:
    session: Session | None = strawberry.field(description="The session, now ended.")
    user_errors: list[SessionError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Which of your sessions to end.")
class SessionRevokeAllInput:
    except_current: bool = strawberry.field(
        default=True, description="Keep the session you are asking with (the default)."
    )


@strawberry.type(description="How many sessions ended, or why none did.")
class SessionRevokeAllPayload:
    revoked_count: int = strawberry.field(description="How many sessions ended.")
    user_errors: list[SessionError] = strawberry.field(description="Empty on success.")


def _two_factor_errors(problems: list[Problem]) -> list[TwoFactorError]:
    return user_errors(TwoFactorError, TwoFactorErrorCode, problems)


@strawberry.type
class SecurityMutation:
    @strawberry.mutation(
        description="Start enrolling an authenticator app for two-factor sign-in: scan the "
        "QR code, then confirm with twoFactorConfirm."
    )
    async def two_factor_enroll(
        self, info: Info, input: Annotated[TwoFactorEnrollInput, arg("Your password.")]
    ) -> TwoFactorEnrollPayload:
        rt, viewer = info.context.runtime, info.context.viewer
        enrolment, problems = await run_in_transaction(
            info, lambda uow: two_factor.enrol(rt, uow, viewer, input.password)
        )
        return TwoFactorEnrollPayload(
            secret=enrolment.secret if enrolment else None,
            otpauth_uri=enrolment.uri if enrolment else None,
            qr_code_svg=enrolment.qr_svg if enrolment else None,
            user_errors=_two_factor_errors(problems),
        )

    @strawberry.mutation(
        description="Turn two-factor sign-in on with a first code from the app; answers ten "
        "recovery codes, shown only here."
    )
    async def two_factor_confirm(
        self, info: Info, input: Annotated[TwoFactorConfirmInput, arg("The code.")]
    ) -> TwoFactorRecoveryCodesPayload:
        rt, viewer = info.context.runtime, info.context.viewer
        codes, problems = await run_in_transaction(
            info, lambda uow: two_factor.confirm(rt, uow, viewer, input.code)
        )
        return TwoFactorRecoveryCodesPayload(
            recovery_codes=codes, user_errors=_two_factor_errors(problems)
        )

    @strawberry.mutation(
        description="New recovery codes for a current code from the app; the old ones stop working."
    )
    async def two_factor_recovery_codes_regenerate(
        self,
        info: Info,
        input: Annotated[TwoFactorRecoveryCodesRegenerateInput, arg("The code.")],
    ) -> TwoFactorRecoveryCodesPayload:
        rt, viewer = info.context.runtime, info.context.viewer
        codes, problems = await run_in_transaction(
            info, lambda uow: two_factor.regenerate_recovery_codes(rt, uow, viewer, input.code)
        )
        return TwoFactorRecoveryCodesPayload(
            recovery_codes=codes, user_errors=_two_factor_errors(problems)
        )

    @strawberry.mutation(
        description="Turn two-factor sign-in off: your password and a code, both (staff "
        "whose role requires it lose that role's permissions until they enrol again)."
    )
    async def two_factor_disable(
        self, info: Info, input: Annotated[TwoFactorDisableInput, arg("Password and code.")]
    ) -> TwoFactorPayload:
        rt, viewer = info.context.runtime, info.context.viewer
        user, problems = await run_in_transaction(
            info, lambda uow: two_factor.disable(rt, uow, viewer, input.password, input.code)
        )
        return TwoFactorPayload(
            user=User.from_row(user) if user is not None else None,
            user_errors=_two_factor_errors(problems),
        )

    @strawberry.mutation(
        description="Reset someone else's two-factor sign-in (a lost phone and lost recovery "
        "codes): needs `users:manage` and your password (or a recent sign-in); their "
        "sessions end, it is audited with the reason, and they are told."
    )
    async def two_factor_reset(
        self, info: Info, input: Annotated[TwoFactorResetInput, arg("Who and why.")]
    ) -> TwoFactorPayload:
        rt, viewer = info.context.runtime, info.context.viewer
        user, problems = await run_in_transaction(
            info,
            lambda uow: two_factor.reset(
                rt,
                uow,
                viewer,
                pk_of(input.user_id, "User", "userId"),
                input.reason,
                input.password,
            ),
        )
        return TwoFactorPayload(
            user=User.from_row(user) if user is not None else None,
            user_errors=_two_factor_errors(problems),
        )

    @strawberry.mutation(description="End one of your sessions (sign that device out).")
    async def session_revoke(
        self, info: Info, input: Annotated[SessionRevokeInput, arg("The session.")]
    ) -> SessionRevokePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: sessions.revoke_one(
                info.context.runtime, uow, viewer, pk_of(input.id, "Session", "id")
            ),
        )
        if found is None:
            return SessionRevokePayload(
                session=None, user_errors=user_errors(SessionError, SessionErrorCode, problems)
            )
        row = await info.context.loaders.session_by_id.load(found.id)
        return SessionRevokePayload(
            session=Session.from_row(row) if row is not None else None, user_errors=[]
        )

    @strawberry.mutation(
        description="End all your sessions, except (by default) the one you are asking with."
    )
    async def session_revoke_all(
        self, info: Info, input: Annotated[SessionRevokeAllInput, arg("Which to keep.")]
    ) -> SessionRevokeAllPayload:
        viewer = info.context.viewer
        ended, problems = await run_in_transaction(
            info,
            lambda uow: sessions.revoke_all(uow, viewer, except_current=input.except_current),
        )
        return SessionRevokeAllPayload(
            revoked_count=ended or 0,
            user_errors=user_errors(SessionError, SessionErrorCode, problems),
        )
