"""E-mail transports: SMTP when ``ALUMNET_SMTP_URL`` is set, else files in an outbox folder."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlparse

from alumnet.config import Settings
from alumnet.domain.ops.mail import Letter, MailServerUnavailable


def _message(sender: str, to: str, letter: Letter) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = " ".join(letter.subject.split())
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = letter.message_id
    for name, value in letter.headers.items():
        msg[name] = value
    msg.set_content(letter.text)
    if letter.html is not None:
        msg.add_alternative(letter.html, subtype="html")
    for attachment in letter.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype or "octet-stream",
            filename=attachment.name,
        )  # fmt: skip
    return msg


class SmtpTransport:
    """``smtp://user:pass@host:port`` (STARTTLS when offered) or ``smtps://`` (implicit TLS).

    ``open()`` gives one SMTP session for a batch of messages: a job's hundred e-mails
    cost one connection, one TLS handshake and one login, not a hundred.
    """

    def __init__(self, url: str, sender: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in {"smtp", "smtps"}:
            raise ValueError("ALUMNET_SMTP_URL must start with smtp:// or smtps://")
        self.tls = parsed.scheme == "smtps"
        self.host = parsed.hostname or "localhost"
        self.port = parsed.port or (465 if self.tls else 25)
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.sender = sender

    def connect(self) -> smtplib.SMTP:
        """A ready session (greeted, TLS, signed in). Any failure on the way (no answer,
        TLS, a refused login) is ``MailServerUnavailable``: the batch stops there rather
        than trying again, and signing in again, for every message."""
        try:
            client = (
                smtplib.SMTP_SSL(self.host, self.port, timeout=30)
                if self.tls
                else smtplib.SMTP(self.host, self.port, timeout=30)
            )
        except (OSError, smtplib.SMTPException) as exc:
            raise MailServerUnavailable(type(exc).__name__) from exc
        try:
            client.ehlo()
            if not self.tls and client.has_extn("starttls"):
                client.starttls()
                client.ehlo()
            if self.username and self.password:
                client.login(self.username, self.password)
        except (OSError, smtplib.SMTPException) as exc:
            client.close()
            raise MailServerUnavailable(type(exc).__name__) from exc
        return client

    @asynccontextmanager
    async def open(self) -> AsyncIterator[SmtpSession]:
        session = SmtpSession(self)
        try:
            yield session
        finally:
            await asyncio.to_thread(session.quit)


class SmtpSession:
    """One SMTP connection, opened at the first message. Before each later message, the
    connection is checked (NOOP) and opened again if the server has hung up meanwhile
    (servers limit messages per connection, or time out idle ones). A message is never
    sent twice: once its transaction has begun, a failure is that message's failure."""

    def __init__(self, transport: SmtpTransport) -> None:
        self.transport = transport
        self.client: smtplib.SMTP | None = None

    def _ready(self) -> smtplib.SMTP:
        if self.client is not None:
            try:
                if self.client.noop()[0] == 250:
                    return self.client
            except (OSError, smtplib.SMTPException):
                pass
            self.client.close()
            self.client = None
        self.client = self.transport.connect()
        return self.client

    def _send_sync(self, msg: EmailMessage) -> None:
        client = self._ready()
        try:
            client.send_message(msg)
        except (smtplib.SMTPServerDisconnected, OSError):
            client.close()
            self.client = None
            raise

    async def send(self, *, to: str, letter: Letter) -> None:
        await asyncio.to_thread(self._send_sync, _message(self.transport.sender, to, letter))

    def quit(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


class OutboxTransport:
    """Writes each message as an ``.eml`` file, so that development needs no mail server."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    @asynccontextmanager
    async def open(self) -> AsyncIterator[OutboxTransport]:
        self.folder.mkdir(parents=True, exist_ok=True)
        yield self

    async def send(self, *, to: str, letter: Letter) -> None:
        msg = _message(self.sender, to, letter)
        name = letter.message_id.strip("<>").replace("@", "_") + ".eml"
        path = self.folder / name
        await asyncio.to_thread(path.write_bytes, msg.as_bytes())


def transport_for(settings: Settings) -> SmtpTransport | OutboxTransport:
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url, settings.mail_from)
    return OutboxTransport(settings.outbox_dir, settings.mail_from)
