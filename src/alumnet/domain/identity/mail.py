"""The e-mails identity sends, queued through the job outbox after commit."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from sqlalchemy import insert

from alumnet.config import Settings
from alumnet.persistence.models import OutboundEmail, User
from alumnet.persistence.uow import UnitOfWork

EMAIL_JOB = "email.send"


async def queue_email(
    uow: UnitOfWork, *, user: User, template: str, subject: str, body: str
) -> OutboundEmail:
    email = OutboundEmail(
        user_id=user.id, to_address=user.email, subject=subject, text_body=body, template=template
    )
    uow.session.add(email)
    await uow.session.flush()
    await uow.add_job(EMAIL_JOB, {"email_id": email.id}, queue="email")
    return email


async def queue_emails(
    uow: UnitOfWork,
    recipients: list[tuple[int, str]],
    *,
    template: str,
    subject: str,
    body: str,
) -> int:
    """The same e-mail to many users (id, address): a few statements, not one per user."""
    if not recipients:
        return 0
    now = datetime.now(UTC)
    rows = [
        {"user_id": uid, "to_address": address, "subject": subject, "text_body": body,
         "template": template, "created_at": now}
        for uid, address in recipients
    ]  # fmt: skip
    result = await uow.session.execute(insert(OutboundEmail).returning(OutboundEmail.id), rows)
    ids = [int(i) for i in result.scalars()]
    await uow.add_jobs(EMAIL_JOB, [{"email_id": i} for i in ids], queue="email")
    return len(ids)


def _link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.public_url}{path}?token={quote(token)}"


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


def invitation_body(settings: Settings, user: User, token: str) -> str:
    return (
        f"Hello {user.name},\n\n"
        "An administrator created an alumnet account for you. Choose your password here:\n\n"
        f"{_link(settings, '/reset-password', token)}\n\n"
        f"or send this token with the passwordReset mutation:\n\n{token}\n"
    )
