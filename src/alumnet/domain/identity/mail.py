"""The e-mails identity sends, queued through the job outbox after commit."""

from __future__ import annotations

from urllib.parse import quote

from alumnet.config import Settings
from alumnet.persistence.models import OutboundEmail, PersonalAccessToken, User
from alumnet.persistence.uow import UnitOfWork

EMAIL_JOB = "email.send"
EMAIL_BATCH = 100


async def queue_email(
    uow: UnitOfWork, *, user: User, template: str, subject: str, body: str, to: str | None = None
) -> OutboundEmail:
    """An e-mail to ``user`` (at ``to``, when it must go to another address of theirs)."""
    email = OutboundEmail(
        user_id=user.id,
        to_address=to or user.email,
        subject=subject,
        text_body=body,
        template=template,
    )
    uow.session.add(email)
    await uow.session.flush()
    await uow.add_job(EMAIL_JOB, {"email_id": email.id}, queue="email")
    return email


async def queue_sending(uow: UnitOfWork, email_ids: list[int]) -> None:
    """Jobs that send e-mails already written: up to ``EMAIL_BATCH`` per job, so that
    e-mailing 3,000 people costs 30 job rows and queue entries, not 3,000."""
    batches = [email_ids[i : i + EMAIL_BATCH] for i in range(0, len(email_ids), EMAIL_BATCH)]
    await uow.add_jobs(EMAIL_JOB, [{"email_ids": b} for b in batches], queue="email")


def _link(settings: Settings, path: str, token: str) -> str:
    """A link to a page that takes the token: the frontend's (ALUMNET_FRONTEND_URL), or
    the small page this server renders at the same path."""
    return f"{settings.frontend_url or settings.public_url}{path}?token={quote(token)}"


def verification_body(settings: Settings, user: User, token: str) -> str:
    return (
        f"Hello {user.name},\n\n"
        "Please confirm your e-mail address for alumnet by opening this link:\n\n"
        f"{_link(settings, '/verify-email', token)}\n\n"
        f"or by sending this token with the emailVerify mutation:\n\n{token}\n\n"
        "If you did not create an account, ignore this message.\n"
    )


def already_registered_body(settings: Settings, user: User) -> str:
    return (
        f"Hello {user.name},\n\n"
        "Someone asked to create an alumnet account with this e-mail address, "
        "but you already have one. If that was you, sign in, or reset your password "
        "with the passwordResetRequest mutation.\n\n"
        "If it was not you, you can ignore this message.\n"
    )


def password_reset_body(settings: Settings, user: User, token: str) -> str:
    return (
        f"Hello {user.name},\n\n"
        "Someone asked to reset the password of your alumnet account. Open this link to "
        "choose a new one:\n\n"
        f"{_link(settings, '/reset-password', token)}\n\n"
        f"or send this token with the passwordReset mutation:\n\n{token}\n\n"
        f"The link works once and expires in {settings.password_reset_ttl_seconds // 60} "
        "minutes. If you did not ask for it, ignore this message.\n"
    )


def invitation_body(settings: Settings, name: str, token: str) -> str:
    return (
        f"Hello {name},\n\n"
        "An administrator created an alumnet account for you. Choose your password here:\n\n"
        f"{_link(settings, '/reset-password', token)}\n\n"
        f"or send this token with the passwordReset mutation:\n\n{token}\n\n"
        "The link works once and expires in 7 days; after that, ask for a new one with the "
        "passwordResetRequest mutation.\n"
    )


REVOKED_BECAUSE = {
    "password_reset": "your password was reset",
    "password_change": "your password was changed",
    "signed_out_everywhere": "you signed out everywhere",
}


def tokens_revoked_body(user: User, count: int, reason: str) -> str:
    tokens = "personal access token" if count == 1 else "personal access tokens"
    because = (
        f"{reason.removeprefix('made_by:')}, who made them for you, changed their password "
        "or signed out everywhere"
        if reason.startswith("made_by:")
        else REVOKED_BECAUSE.get(reason, reason)
    )
    return (
        f"Hello {user.name},\n\n"
        f"{count} {tokens} of your alumnet account stopped working because {because}. "
        "Scripts that used them need a new one (personalAccessTokenCreate).\n\n"
        "If you did not expect this, reset your password and tell your administrator.\n"
    )


def token_made_for_you_body(user: User, maker: str, token: PersonalAccessToken) -> str:
    return (
        f"Hello {user.name},\n\n"
        f'{maker} made a personal access token for your alumnet account: "{token.name}" '
        f"({token.scope}, until {token.expires_at:%Y-%m-%d}). Anyone holding it acts as you "
        "within its scope.\n\n"
        "If you did not ask for it, revoke it (personalAccessTokenRevoke) and tell your "
        "administrator.\n"
    )


def signin_failures_body(user: User, count: int) -> str:
    return (
        f"Hello {user.name},\n\n"
        f"Someone has tried to sign in to your alumnet account with a wrong password {count} "
        "times in the last minutes. You can still sign in as usual: alumnet slows the "
        "guessing down rather than locking you out.\n\n"
        "If it was you, there is nothing to do. If it was not, choose a long password you use "
        "nowhere else (passwordChange, or passwordResetRequest).\n"
    )


def password_changed_body(user: User) -> str:
    return (
        f"Hello {user.name},\n\n"
        "The password of your alumnet account was changed. Your other sessions have ended, "
        "and your personal access tokens no longer work.\n\n"
        "If you did not do this, reset your password at once (passwordResetRequest) and "
        "tell your administrator.\n"
    )


def email_change_body(settings: Settings, user: User, new_email: str, token: str) -> str:
    return (
        f"Hello {user.name},\n\n"
        f"To use {new_email} for your alumnet account, open this link:\n\n"
        f"{_link(settings, '/confirm-email', token)}\n\n"
        f"or send this token with the emailChangeConfirm mutation:\n\n{token}\n\n"
        "If you did not ask for this, ignore this message: nothing changes.\n"
    )


def email_changed_body(user: User, new_email: str) -> str:
    return (
        f"Hello {user.name},\n\n"
        f"The e-mail address of your alumnet account is now {new_email}; e-mails go there "
        "from now on.\n\n"
        "If you did not do this, reset your password and tell your administrator.\n"
    )


def two_factor_body(user: User, *, enabled: bool) -> str:
    if enabled:
        news = (
            "Two-factor sign-in is now on for your alumnet account: after your password, "
            "alumnet asks for a code from your authenticator app. Keep your recovery codes "
            "somewhere safe; each works once, if you lose your phone."
        )
    else:
        news = (
            "Two-factor sign-in is now off for your alumnet account: your password alone "
            "signs you in."
        )
    return (
        f"Hello {user.name},\n\n{news}\n\n"
        "If you did not do this, reset your password at once (passwordResetRequest) and "
        "tell your administrator.\n"
    )


def two_factor_reset_body(user: User) -> str:
    return (
        f"Hello {user.name},\n\n"
        "An administrator has reset the two-factor sign-in of your alumnet account: your "
        "authenticator app and recovery codes no longer work, and your password alone signs "
        "you in until you enrol again (twoFactorEnroll).\n\n"
        "If you did not ask for this, tell your administrator at once.\n"
    )


def new_device_body(user: User, device: str, address: str | None, when: str) -> str:
    return (
        f"Hello {user.name},\n\n"
        f"Your alumnet account was signed in to from a device it had not used before:\n\n"
        f"  {device}\n  from {address or 'an unknown address'}\n  at {when} (UTC)\n\n"
        "If this was you, there is nothing to do. If it was not, end that session "
        "(sessionRevoke, or sessionRevokeAll) and change your password at once.\n"
    )
