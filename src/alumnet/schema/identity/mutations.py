"""Identity mutations: sign-in and tokens, registration and recovery, user administration."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry import relay

from alumnet.domain.errors import DomainError, Problem
from alumnet.domain.identity import auth, two_factor, users
from alumnet.domain.identity.permissions import Role as DomainRole
from alumnet.domain.identity.permissions import TokenScope as DomainTokenScope
from alumnet.persistence.models import PersonalAccessToken as PersonalAccessTokenModel
from alumnet.persistence.uow import UnitOfWork
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.identity.types import PersonalAccessToken, Role, TokenScope, User
from alumnet.schema.mutations import CODE_DESCRIPTION, run_in_transaction
from alumnet.schema.nodes import global_pk

ev = strawberry.enum_value
INVALID = "The input is not valid; see the message."


def _input(description: str) -> object:
    return strawberry.argument(description=description)


def _user(model: object | None) -> User | None:
    return User.from_row(model) if model is not None else None


def _user_pk(gid: relay.GlobalID) -> int:
    pk = global_pk(gid, "User")
    if pk is None:
        raise DomainError.of("NOT_FOUND", "No such user.", "id")
    return pk


# --- tokenCreate / tokenRefresh / tokenRevoke -----------------------------------------------


@strawberry.enum(description="Why `tokenCreate` failed.")
class TokenCreateErrorCode(Enum):
    INVALID_CREDENTIALS = ev(
        "INVALID_CREDENTIALS",
        description="The e-mail address or the password is wrong (we do not say which).",
    )
    THROTTLED = ev(
        "THROTTLED", description="Too many failed attempts for this account or address; wait."
    )
    ACCOUNT_SUSPENDED = ev("ACCOUNT_SUSPENDED", description="The account is suspended.")
    TWO_FACTOR_REQUIRED = ev(
        "TWO_FACTOR_REQUIRED",
        description="The password is right and two-factor sign-in is on: send "
        "`twoFactorChallenge` and a code from the authenticator app to tokenCreateTwoFactor.",
    )
    INVALID_CHALLENGE = ev(
        "INVALID_CHALLENGE",
        description="The challenge is not valid, expired (5 minutes) or used: sign in again.",
    )
    INVALID_CODE = ev("INVALID_CODE", description="The code is wrong, or was used already.")
    TWO_FACTOR_LOCKED = ev(
        "TWO_FACTOR_LOCKED", description="Too many wrong codes: wait 15 minutes."
    )
    TWO_FACTOR_UNAVAILABLE = ev(
        "TWO_FACTOR_UNAVAILABLE",
        description="The authenticator cannot be checked: an administrator must reset it.",
    )
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a `tokenCreate` input.")
class TokenCreateError(UserError):
    code: TokenCreateErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="Credentials to sign in with.")
class TokenCreateInput:
    email: str = strawberry.field(description="The account's e-mail address, any letter case.")
    password: str = strawberry.field(description="The account's password.")


@strawberry.type(description="A fresh pair of tokens, or why there is none.")
class TokenCreatePayload:
    access_token: str | None = strawberry.field(
        description="Short-lived JWT: send it as `Authorization: Bearer <accessToken>`."
    )
    access_token_expires_at: datetime | None = strawberry.field(
        description="When the access token stops working (UTC)."
    )
    refresh_token: str | None = strawberry.field(
        description="Opaque, single-use: exchange it with `tokenRefresh` for a new pair. "
        "Store it safely; using one twice ends the whole session."
    )
    refresh_token_expires_at: datetime | None = strawberry.field(
        description="When the refresh token stops working (UTC)."
    )
    user: User | None = strawberry.field(description="Who signed in.")
    two_factor_challenge: str | None = strawberry.field(
        default=None,
        description="With TWO_FACTOR_REQUIRED: what to send to tokenCreateTwoFactor with a "
        "code (valid for 5 minutes, once).",
    )
    two_factor_challenge_expires_at: datetime | None = strawberry.field(
        default=None, description="When the challenge stops working (UTC)."
    )
    two_factor_enrollment_required: bool = strawberry.field(
        default=False,
        description="A role of yours requires two-factor sign-in and you have not enrolled: "
        "its permissions are withheld until you do (twoFactorEnroll, twoFactorConfirm).",
    )
    user_errors: list[TokenCreateError] = strawberry.field(
        description="Why no tokens were issued; empty on success."
    )


@strawberry.input(description="Sign-in's second step: the challenge and a code.")
class TokenCreateTwoFactorInput:
    challenge: str = strawberry.field(description="`twoFactorChallenge` from tokenCreate.")
    code: str = strawberry.field(
        description="The six-digit code the authenticator app shows, or a recovery code."
    )


def _signed_in(issued: auth.IssuedTokens) -> TokenCreatePayload:
    return TokenCreatePayload(
        access_token=issued.access_token,
        access_token_expires_at=issued.access_token_expires_at,
        refresh_token=issued.refresh_token,
        refresh_token_expires_at=issued.refresh_token_expires_at,
        user=_user(issued.user),
        two_factor_enrollment_required=issued.two_factor_enrollment_required,
        user_errors=[],
    )


@strawberry.enum(description="Why `tokenRefresh` failed.")
class TokenRefreshErrorCode(Enum):
    INVALID_TOKEN = ev(
        "INVALID_TOKEN",
        description="Unknown, expired, already used or revoked refresh token: sign in again.",
    )
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a `tokenRefresh` input.")
class TokenRefreshError(UserError):
    code: TokenRefreshErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="The refresh token to exchange.")
class TokenRefreshInput:
    refresh_token: str = strawberry.field(description="The refresh token last issued to you.")


@strawberry.type(description="A rotated pair of tokens, or why there is none.")
class TokenRefreshPayload:
    access_token: str | None = strawberry.field(description="New short-lived JWT.")
    access_token_expires_at: datetime | None = strawberry.field(
        description="When the access token stops working (UTC)."
    )
    refresh_token: str | None = strawberry.field(
        description="The next refresh token; the one you sent no longer works."
    )
    refresh_token_expires_at: datetime | None = strawberry.field(
        description="When the new refresh token stops working (UTC)."
    )
    user: User | None = strawberry.field(description="Whose tokens these are.")
    user_errors: list[TokenRefreshError] = strawberry.field(
        description="Why no tokens were issued; empty on success."
    )


@strawberry.enum(description="Why `tokenRevoke` failed.")
class TokenRevokeErrorCode(Enum):
    INVALID_TOKEN = ev("INVALID_TOKEN", description="The refresh token is not known.")
    NOTHING_TO_REVOKE = ev(
        "NOTHING_TO_REVOKE", description="No refresh token given and no session token used."
    )
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a `tokenRevoke` input.")
class TokenRevokeError(UserError):
    code: TokenRevokeErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="What to sign out.")
class TokenRevokeInput:
    refresh_token: str | None = strawberry.field(
        default=None,
        description="The session's refresh token; omit it to end the session of the access "
        "token you are using.",
    )
    everywhere: bool = strawberry.field(
        default=False,
        description="End every session of yours, and revoke every personal access token of "
        "yours (you are told by e-mail): for a lost device or a leaked password.",
    )


@strawberry.type(description="The outcome of signing out.")
class TokenRevokePayload:
    revoked: bool = strawberry.field(
        description="True when the session has ended: its access and refresh tokens no longer work."
    )
    user_errors: list[TokenRevokeError] = strawberry.field(description="Empty on success.")


# --- registration, verification, password reset --------------------------------------------


@strawberry.enum(description="Why `userRegister` failed.")
class UserRegisterErrorCode(Enum):
    REQUIRED = ev("REQUIRED", description="A required value is empty.")
    INVALID_EMAIL = ev("INVALID_EMAIL", description="Not an e-mail address.")
    TOO_LONG = ev("TOO_LONG", description="A value is longer than allowed.")
    PASSWORD_TOO_SHORT = ev("PASSWORD_TOO_SHORT", description="The password is too short.")
    PASSWORD_TOO_WEAK = ev("PASSWORD_TOO_WEAK", description="The password is too easy to guess.")
    ROLE_NOT_ALLOWED = ev(
        "ROLE_NOT_ALLOWED", description="Only STUDENT and ALUMNUS can register themselves."
    )
    THROTTLED = ev(
        "THROTTLED", description="Too many registrations from your network: try again later."
    )
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a `userRegister` input.")
class UserRegisterError(UserError):
    code: UserRegisterErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A new account, to be confirmed by e-mail.")
class UserRegisterInput:
    email: str = strawberry.field(description="E-mail address (at most 254 characters).")
    name: str = strawberry.field(description="Full name (at most 200 characters).")
    password: str = strawberry.field(description="Password: 10 to 256 characters.")
    role: Role = strawberry.field(description="STUDENT or ALUMNUS.")


@strawberry.type(description="The outcome of a registration.")
class UserRegisterPayload:
    accepted: bool = strawberry.field(
        description="True when the request was valid: a message is on its way to the address. "
        "The answer is the same whether or not the address already had an account."
    )
    user_errors: list[UserRegisterError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why `emailVerify` failed.")
class EmailVerifyErrorCode(Enum):
    INVALID_TOKEN = ev("INVALID_TOKEN", description="Unknown, used or expired token.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an `emailVerify` input.")
class EmailVerifyError(UserError):
    code: EmailVerifyErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="The token from the verification e-mail.")
class EmailVerifyInput:
    token: str = strawberry.field(description="The token exactly as e-mailed.")


@strawberry.type(description="The outcome of an e-mail verification.")
class EmailVerifyPayload:
    verified: bool = strawberry.field(description="True when the address is now confirmed.")
    user_errors: list[EmailVerifyError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why `passwordResetRequest` failed.")
class PasswordResetRequestErrorCode(Enum):
    REQUIRED = ev("REQUIRED", description="The e-mail address is empty.")
    INVALID_EMAIL = ev("INVALID_EMAIL", description="Not an e-mail address.")
    TOO_LONG = ev("TOO_LONG", description="The address is too long.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a `passwordResetRequest` input.")
class PasswordResetRequestError(UserError):
    code: PasswordResetRequestErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="Whose password to reset.")
class PasswordResetRequestInput:
    email: str = strawberry.field(description="The account's e-mail address.")


@strawberry.type(description="The outcome of a password reset request.")
class PasswordResetRequestPayload:
    accepted: bool = strawberry.field(
        description="True for any well-formed address: if it has an account, a single-use link "
        "is on its way. The answer never reveals whether the address exists."
    )
    user_errors: list[PasswordResetRequestError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why `passwordReset` failed.")
class PasswordResetErrorCode(Enum):
    INVALID_TOKEN = ev("INVALID_TOKEN", description="Unknown, used or expired token.")
    PASSWORD_TOO_SHORT = ev("PASSWORD_TOO_SHORT", description="The password is too short.")
    PASSWORD_TOO_WEAK = ev("PASSWORD_TOO_WEAK", description="The password is too easy to guess.")
    TOO_LONG = ev("TOO_LONG", description="The password is too long.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a `passwordReset` input.")
class PasswordResetError(UserError):
    code: PasswordResetErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A new password, proven by the e-mailed token.")
class PasswordResetInput:
    token: str = strawberry.field(description="The token exactly as e-mailed.")
    password: str = strawberry.field(description="The new password: 10 to 256 characters.")


@strawberry.type(description="The outcome of a password reset.")
class PasswordResetPayload:
    reset: bool = strawberry.field(
        description="True when the password was changed: every session was signed out and "
        "every personal access token revoked (the owner is told by e-mail)."
    )
    user_errors: list[PasswordResetError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why `passwordChange` failed.")
class PasswordChangeErrorCode(Enum):
    INVALID_PASSWORD = ev("INVALID_PASSWORD", description="The current password is incorrect.")
    PASSWORD_REQUIRED = ev("PASSWORD_REQUIRED", description="The current password is missing.")
    THROTTLED = ev(
        "THROTTLED", description="Too many wrong passwords: wait, or reset your password."
    )
    SIGN_IN_REQUIRED = ev(
        "SIGN_IN_REQUIRED", description="Passwords are changed while signed in, not with a token."
    )
    PASSWORD_TOO_SHORT = ev("PASSWORD_TOO_SHORT", description="The new password is too short.")
    PASSWORD_TOO_WEAK = ev(
        "PASSWORD_TOO_WEAK", description="The new password is too easy to guess."
    )
    TOO_LONG = ev("TOO_LONG", description="The new password is too long.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a `passwordChange` input.")
class PasswordChangeError(UserError):
    code: PasswordChangeErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="Your current password and the new one.")
class PasswordChangeInput:
    current_password: str = strawberry.field(description="The password you use now.")
    new_password: str = strawberry.field(description="The new password: 10 to 256 characters.")


@strawberry.type(description="The outcome of a password change.")
class PasswordChangePayload:
    changed: bool = strawberry.field(
        description="True when the new password works: your other sessions have ended and "
        "your personal access tokens are revoked (you are told by e-mail)."
    )
    user_errors: list[PasswordChangeError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="Why an e-mail change failed.")
class EmailChangeErrorCode(Enum):
    INVALID_EMAIL = ev("INVALID_EMAIL", description="Not an e-mail address.")
    REQUIRED = ev("REQUIRED", description="A required value is empty.")
    TOO_LONG = ev("TOO_LONG", description="A value is longer than allowed.")
    SAME_ADDRESS = ev("SAME_ADDRESS", description="That is your address already.")
    EMAIL_TAKEN = ev("EMAIL_TAKEN", description="Another account has this address.")
    INVALID_PASSWORD = ev("INVALID_PASSWORD", description="The password is incorrect.")
    PASSWORD_REQUIRED = ev("PASSWORD_REQUIRED", description="Your password is missing.")
    THROTTLED = ev("THROTTLED", description="Too many wrong passwords: wait a little.")
    SIGN_IN_REQUIRED = ev(
        "SIGN_IN_REQUIRED", description="Addresses are changed while signed in, not with a token."
    )
    INVALID_TOKEN = ev("INVALID_TOKEN", description="Unknown, used or expired link.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an e-mail change.")
class EmailChangeError(UserError):
    code: EmailChangeErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="The address to use from now on, and your password.")
class EmailChangeRequestInput:
    new_email: str = strawberry.field(description="The new address.")
    password: str = strawberry.field(description="Your password.")


@strawberry.type(description="Whether the confirmation link is on its way.")
class EmailChangeRequestPayload:
    accepted: bool = strawberry.field(
        description="True when a link went to the new address: the change happens when it is "
        "followed (emailChangeConfirm)."
    )
    user_errors: list[EmailChangeError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="The token sent to the new address.")
class EmailChangeConfirmInput:
    token: str = strawberry.field(description="The token exactly as e-mailed.")


@strawberry.type(description="The account with its new address, or why it did not change.")
class EmailChangeConfirmPayload:
    user: User | None = strawberry.field(description="The account, with its new address.")
    user_errors: list[EmailChangeError] = strawberry.field(description="Empty on success.")


# --- user administration ---------------------------------------------------------------------


@strawberry.enum(description="Why a user administration mutation failed.")
class UserAdminErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such user.")
    REQUIRED = ev("REQUIRED", description="A required value is empty.")
    INVALID_EMAIL = ev("INVALID_EMAIL", description="Not an e-mail address.")
    EMAIL_TAKEN = ev("EMAIL_TAKEN", description="Another user has this e-mail address.")
    INVALID_PHONE = ev("INVALID_PHONE", description="Not a phone number.")
    TOO_LONG = ev("TOO_LONG", description="A value is longer than allowed.")
    PASSWORD_TOO_SHORT = ev("PASSWORD_TOO_SHORT", description="The password is too short.")
    PASSWORD_TOO_WEAK = ev("PASSWORD_TOO_WEAK", description="The password is too easy to guess.")
    CANNOT_SUSPEND_SELF = ev("CANNOT_SUSPEND_SELF", description="You cannot suspend yourself.")
    CANNOT_DEMOTE_SELF = ev(
        "CANNOT_DEMOTE_SELF", description="You cannot remove your own ADMIN role."
    )
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a user administration input.")
class UserAdminError(UserError):
    code: UserAdminErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The user as changed, or why nothing changed.")
class UserAdminPayload:
    user: User | None = strawberry.field(description="The user after the change.")
    user_errors: list[UserAdminError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A new user, created by an administrator.")
class UserCreateInput:
    email: str = strawberry.field(description="E-mail address, unique regardless of case.")
    name: str = strawberry.field(description="Full name (at most 200 characters).")
    roles: list[Role] = strawberry.field(description="At least one role.")
    password: str | None = strawberry.field(
        default=None,
        description="Initial password. Omit it to e-mail the person a link to choose their own.",
    )
    email_verified: bool = strawberry.field(
        default=False, description="Mark the address as confirmed (e.g. from a trusted list)."
    )


@strawberry.input(description="Changes to a user; omitted fields stay as they are.")
class UserUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The user to change.")
    name: str | None = strawberry.field(default=None, description="New full name.")
    email: str | None = strawberry.field(
        default=None, description="New e-mail address; it must be confirmed again."
    )
    phone: str | None = strawberry.field(
        default=None, description="New phone number (for outreach calls); empty to remove."
    )
    graduation_year: int | None = strawberry.field(
        default=None,
        description="The year they graduated or expect to, on the institution's record "
        "(announcements to graduation years go by it, with verified degrees); 0 to remove.",
    )


@strawberry.input(description="A user to suspend.")
class UserSuspendInput:
    id: relay.GlobalID = strawberry.field(description="The user to suspend.")
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit log (at most 500 characters)."
    )


@strawberry.input(description="A suspended user to let back in.")
class UserReactivateInput:
    id: relay.GlobalID = strawberry.field(description="The user to reactivate.")


@strawberry.input(description="The complete new set of roles of a user.")
class UserRolesSetInput:
    id: relay.GlobalID = strawberry.field(description="The user whose roles to set.")
    roles: list[Role] = strawberry.field(
        description="Every role the user should have; others are removed."
    )


# --- personal access tokens ------------------------------------------------------------------


@strawberry.enum(description="Why a personal access token mutation failed.")
class PersonalAccessTokenErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such token (or user).")
    PASSWORD_REQUIRED = ev(
        "PASSWORD_REQUIRED",
        description="Give your password: without it, a token needs a sign-in of the last "
        "10 minutes.",
    )
    INVALID_PASSWORD = ev("INVALID_PASSWORD", description="The password is incorrect.")
    THROTTLED = ev(
        "THROTTLED", description="Too many wrong passwords: wait, or reset your password."
    )
    REQUIRED = ev("REQUIRED", description="A required value is empty.")
    TOO_LONG = ev("TOO_LONG", description="A value is longer than allowed.")
    EXPIRY_IN_PAST = ev("EXPIRY_IN_PAST", description="The expiry must be in the future.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a personal access token input.")
class PersonalAccessTokenError(UserError):
    code: PersonalAccessTokenErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A new personal access token for scripts.")
class PersonalAccessTokenCreateInput:
    name: str = strawberry.field(description="What it is for (at most 100 characters).")
    scope: TokenScope = strawberry.field(
        default=TokenScope.WRITE,
        description="How much of your permissions it carries: READ for dashboards and "
        "reports, WRITE for scripts that change things, ADMIN only where it must.",
    )
    expires_at: datetime | None = strawberry.field(
        default=None,
        description="When it should stop working (UTC): within a year; 90 days if omitted.",
    )
    password: str | None = strawberry.field(
        default=None,
        description="Your password; not needed within 10 minutes of signing in. A stolen "
        "access token is not enough to make a token that outlives it.",
    )
    user_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Create it for another user (needs `users:manage`)."
    )


@strawberry.type(description="The new token with its secret, shown this once.")
class PersonalAccessTokenCreatePayload:
    token: PersonalAccessToken | None = strawberry.field(description="The token's record.")
    secret: str | None = strawberry.field(
        description="The secret (`alm_pat_…`). It is not stored and cannot be shown again."
    )
    user_errors: list[PersonalAccessTokenError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A personal access token to revoke.")
class PersonalAccessTokenRevokeInput:
    id: relay.GlobalID = strawberry.field(description="The token to revoke.")


@strawberry.type(description="The revoked token, or why it was not revoked.")
class PersonalAccessTokenRevokePayload:
    token: PersonalAccessToken | None = strawberry.field(description="The token, now revoked.")
    user_errors: list[PersonalAccessTokenError] = strawberry.field(description="Empty on success.")


def _pat(model: object | None) -> PersonalAccessToken | None:
    if model is None:
        return None
    return PersonalAccessToken.from_row(model)  # type: ignore[arg-type]


def _no_tokens(problems: list[Problem]) -> TokenCreatePayload:
    return TokenCreatePayload(
        access_token=None,
        access_token_expires_at=None,
        refresh_token=None,
        refresh_token_expires_at=None,
        user=None,
        user_errors=user_errors(TokenCreateError, TokenCreateErrorCode, problems),
    )


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(description="Sign in with e-mail and password: returns tokens.")
    async def token_create(
        self, info: Info, input: Annotated[TokenCreateInput, _input("Your credentials.")]
    ) -> TokenCreatePayload:
        rt = info.context.runtime
        issued, problems = await run_in_transaction(
            info, lambda uow: auth.sign_in(rt, uow, email=input.email, password=input.password)
        )
        if issued is None:
            return _no_tokens(problems)
        if isinstance(issued, two_factor.Challenge):
            return TokenCreatePayload(
                access_token=None,
                access_token_expires_at=None,
                refresh_token=None,
                refresh_token_expires_at=None,
                user=None,
                two_factor_challenge=issued.token,
                two_factor_challenge_expires_at=issued.expires_at,
                user_errors=[
                    TokenCreateError(
                        field=None,
                        message="Two-factor sign-in is on: send twoFactorChallenge with a code "
                        "from your authenticator app to tokenCreateTwoFactor.",
                        code=TokenCreateErrorCode.TWO_FACTOR_REQUIRED,
                    )
                ],
            )
        return _signed_in(issued)

    @strawberry.mutation(
        description="Sign-in's second step when two-factor sign-in is on: the challenge "
        "tokenCreate answered and a code; returns tokens."
    )
    async def token_create_two_factor(
        self,
        info: Info,
        input: Annotated[TokenCreateTwoFactorInput, _input("The challenge and a code.")],
    ) -> TokenCreatePayload:
        rt = info.context.runtime
        issued, problems = await run_in_transaction(
            info,
            lambda uow: auth.sign_in_two_factor(
                rt, uow, challenge=input.challenge, code=input.code
            ),
        )
        if issued is None:
            return _no_tokens(problems)
        return _signed_in(issued)

    @strawberry.mutation(
        description="Exchange a refresh token for a new access token and a new refresh token."
    )
    async def token_refresh(
        self, info: Info, input: Annotated[TokenRefreshInput, _input("The refresh token.")]
    ) -> TokenRefreshPayload:
        rt = info.context.runtime
        issued, problems = await run_in_transaction(
            info, lambda uow: auth.refresh(rt, uow, input.refresh_token)
        )
        if issued is None:
            return TokenRefreshPayload(
                access_token=None,
                access_token_expires_at=None,
                refresh_token=None,
                refresh_token_expires_at=None,
                user=None,
                user_errors=user_errors(TokenRefreshError, TokenRefreshErrorCode, problems),
            )
        return TokenRefreshPayload(
            access_token=issued.access_token,
            access_token_expires_at=issued.access_token_expires_at,
            refresh_token=issued.refresh_token,
            refresh_token_expires_at=issued.refresh_token_expires_at,
            user=_user(issued.user),
            user_errors=[],
        )

    @strawberry.mutation(description="Sign out: end a session and all of its tokens.")
    async def token_revoke(
        self, info: Info, input: Annotated[TokenRevokeInput, _input("What to sign out.")]
    ) -> TokenRevokePayload:
        viewer = info.context.viewer
        _, problems = await run_in_transaction(
            info,
            lambda uow: auth.revoke(uow, viewer, input.refresh_token, everywhere=input.everywhere),
        )
        return TokenRevokePayload(
            revoked=not problems,
            user_errors=user_errors(TokenRevokeError, TokenRevokeErrorCode, problems),
        )

    @strawberry.mutation(
        description="Create your own STUDENT or ALUMNUS account; a verification e-mail follows."
    )
    async def user_register(
        self, info: Info, input: Annotated[UserRegisterInput, _input("The new account.")]
    ) -> UserRegisterPayload:
        rt = info.context.runtime
        _, problems = await run_in_transaction(
            info,
            lambda uow: users.register(
                rt,
                uow,
                email=input.email,
                name=input.name,
                password=input.password,
                role=DomainRole[input.role.name],
            ),
        )
        return UserRegisterPayload(
            accepted=not problems,
            user_errors=user_errors(UserRegisterError, UserRegisterErrorCode, problems),
        )

    @strawberry.mutation(description="Confirm an e-mail address with the e-mailed token.")
    async def email_verify(
        self, info: Info, input: Annotated[EmailVerifyInput, _input("The e-mailed token.")]
    ) -> EmailVerifyPayload:
        _, problems = await run_in_transaction(
            info, lambda uow: users.verify_email(uow, input.token)
        )
        return EmailVerifyPayload(
            verified=not problems,
            user_errors=user_errors(EmailVerifyError, EmailVerifyErrorCode, problems),
        )

    @strawberry.mutation(
        description="E-mail a single-use password reset link, if the address has an account."
    )
    async def password_reset_request(
        self,
        info: Info,
        input: Annotated[PasswordResetRequestInput, _input("Whose password to reset.")],
    ) -> PasswordResetRequestPayload:
        rt = info.context.runtime
        _, problems = await run_in_transaction(
            info, lambda uow: users.request_password_reset(rt, uow, input.email)
        )
        return PasswordResetRequestPayload(
            accepted=not problems,
            user_errors=user_errors(
                PasswordResetRequestError, PasswordResetRequestErrorCode, problems
            ),
        )

    @strawberry.mutation(description="Choose a new password with the e-mailed token.")
    async def password_reset(
        self, info: Info, input: Annotated[PasswordResetInput, _input("Token and new password.")]
    ) -> PasswordResetPayload:
        rt = info.context.runtime
        _, problems = await run_in_transaction(
            info, lambda uow: users.reset_password(rt, uow, input.token, input.password)
        )
        return PasswordResetPayload(
            reset=not problems,
            user_errors=user_errors(PasswordResetError, PasswordResetErrorCode, problems),
        )

    @strawberry.mutation(
        description="Change your password (the current one is asked): your other sessions "
        "end and your personal access tokens are revoked."
    )
    async def password_change(
        self,
        info: Info,
        input: Annotated[PasswordChangeInput, _input("Current and new password.")],
    ) -> PasswordChangePayload:
        rt, viewer = info.context.runtime, info.context.viewer
        _, problems = await run_in_transaction(
            info,
            lambda uow: users.change_password(
                rt, uow, viewer, input.current_password, input.new_password
            ),
        )
        return PasswordChangePayload(
            changed=not problems,
            user_errors=user_errors(PasswordChangeError, PasswordChangeErrorCode, problems),
        )

    @strawberry.mutation(
        description="Change your e-mail address (your password is asked): a link goes to the "
        "new address, and the change happens when it is followed."
    )
    async def email_change_request(
        self, info: Info, input: Annotated[EmailChangeRequestInput, _input("The new address.")]
    ) -> EmailChangeRequestPayload:
        rt, viewer = info.context.runtime, info.context.viewer
        _, problems = await run_in_transaction(
            info,
            lambda uow: users.request_email_change(
                rt, uow, viewer, input.new_email, input.password
            ),
        )
        return EmailChangeRequestPayload(
            accepted=not problems,
            user_errors=user_errors(EmailChangeError, EmailChangeErrorCode, problems),
        )

    @strawberry.mutation(
        description="Confirm a new e-mail address with the token sent to it; the old address "
        "is told."
    )
    async def email_change_confirm(
        self, info: Info, input: Annotated[EmailChangeConfirmInput, _input("The token.")]
    ) -> EmailChangeConfirmPayload:
        user, problems = await run_in_transaction(
            info, lambda uow: users.confirm_email_change(uow, input.token)
        )
        return EmailChangeConfirmPayload(
            user=_user(user),
            user_errors=user_errors(EmailChangeError, EmailChangeErrorCode, problems),
        )

    @strawberry.mutation(
        description="Create a user (needs `users:manage`). Safe to retry: a second call with "
        "the same e-mail address answers EMAIL_TAKEN and changes nothing."
    )
    async def user_create(
        self, info: Info, input: Annotated[UserCreateInput, _input("The new user.")]
    ) -> UserAdminPayload:
        rt = info.context.runtime
        viewer = info.context.viewer
        data = users.NewUser(
            email=input.email,
            name=input.name,
            roles=[DomainRole[r.name] for r in input.roles],
            password=input.password,
            email_verified=input.email_verified,
        )
        user, problems = await run_in_transaction(
            info, lambda uow: users.create_user(rt, uow, viewer, data)
        )
        return UserAdminPayload(
            user=_user(user), user_errors=user_errors(UserAdminError, UserAdminErrorCode, problems)
        )

    @strawberry.mutation(
        description="Change a user's name, e-mail, phone or graduation year (needs `users:manage`)."
    )
    async def user_update(
        self, info: Info, input: Annotated[UserUpdateInput, _input("The changes.")]
    ) -> UserAdminPayload:
        viewer = info.context.viewer
        user, problems = await run_in_transaction(
            info,
            lambda uow: users.update_user(
                uow,
                viewer,
                _user_pk(input.id),
                name=input.name,
                email=input.email,
                phone=input.phone,
                graduation_year=input.graduation_year,
            ),
        )
        return UserAdminPayload(
            user=_user(user), user_errors=user_errors(UserAdminError, UserAdminErrorCode, problems)
        )

    @strawberry.mutation(
        description="Suspend a user: they cannot sign in and their tokens stop working at once."
    )
    async def user_suspend(
        self, info: Info, input: Annotated[UserSuspendInput, _input("Who and why.")]
    ) -> UserAdminPayload:
        viewer = info.context.viewer
        user, problems = await run_in_transaction(
            info,
            lambda uow: users.set_status(
                uow, viewer, _user_pk(input.id), users.SUSPENDED, input.reason
            ),
        )
        return UserAdminPayload(
            user=_user(user), user_errors=user_errors(UserAdminError, UserAdminErrorCode, problems)
        )

    @strawberry.mutation(description="Let a suspended user sign in again (needs `users:manage`).")
    async def user_reactivate(
        self, info: Info, input: Annotated[UserReactivateInput, _input("Who.")]
    ) -> UserAdminPayload:
        viewer = info.context.viewer
        user, problems = await run_in_transaction(
            info, lambda uow: users.set_status(uow, viewer, _user_pk(input.id), users.ACTIVE)
        )
        return UserAdminPayload(
            user=_user(user), user_errors=user_errors(UserAdminError, UserAdminErrorCode, problems)
        )

    @strawberry.mutation(
        description="Set the complete list of a user's roles (needs `roles:assign`)."
    )
    async def user_roles_set(
        self, info: Info, input: Annotated[UserRolesSetInput, _input("Who and which roles.")]
    ) -> UserAdminPayload:
        viewer = info.context.viewer
        user, problems = await run_in_transaction(
            info,
            lambda uow: users.set_roles(
                uow, viewer, _user_pk(input.id), [DomainRole[r.name] for r in input.roles]
            ),
        )
        return UserAdminPayload(
            user=_user(user), user_errors=user_errors(UserAdminError, UserAdminErrorCode, problems)
        )

    @strawberry.mutation(
        description="Create a personal access token for scripts; its secret is shown only here."
    )
    async def personal_access_token_create(
        self,
        info: Info,
        input: Annotated[PersonalAccessTokenCreateInput, _input("The new token.")],
    ) -> PersonalAccessTokenCreatePayload:
        viewer = info.context.viewer

        async def change(uow: UnitOfWork) -> auth.CreatedPersonalAccessToken:
            owner = None
            if input.user_id is not None:
                owner = global_pk(input.user_id, "User")
                if owner is None:
                    raise DomainError.of("NOT_FOUND", "No such user.", "userId")
            return await auth.create_personal_access_token(
                info.context.runtime,
                uow,
                viewer,
                name=input.name,
                scope=DomainTokenScope[input.scope.name],
                expires_at=input.expires_at,
                password=input.password,
                user_id=owner,  # type: ignore[arg-type]
            )

        created, problems = await run_in_transaction(info, change)
        return PersonalAccessTokenCreatePayload(
            token=_pat(created.token) if created else None,
            secret=created.secret if created else None,
            user_errors=user_errors(
                PersonalAccessTokenError, PersonalAccessTokenErrorCode, problems
            ),
        )

    @strawberry.mutation(description="Revoke a personal access token: it stops working at once.")
    async def personal_access_token_revoke(
        self,
        info: Info,
        input: Annotated[PersonalAccessTokenRevokeInput, _input("The token to revoke.")],
    ) -> PersonalAccessTokenRevokePayload:
        viewer = info.context.viewer

        async def change(uow: UnitOfWork) -> PersonalAccessTokenModel:
            pk = global_pk(input.id, "PersonalAccessToken")
            if pk is None:
                raise DomainError.of("NOT_FOUND", "No such personal access token.", "id")
            return await auth.revoke_personal_access_token(uow, viewer, pk)

        token, problems = await run_in_transaction(info, change)
        return PersonalAccessTokenRevokePayload(
            token=_pat(token),
            user_errors=user_errors(
                PersonalAccessTokenError, PersonalAccessTokenErrorCode, problems
            ),
        )
