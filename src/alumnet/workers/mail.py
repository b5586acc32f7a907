"""E-mail transports: SMTP when ``ALUMNET_SMTP_URL`` is set, else files in an outbox folder."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlparse

from alumnet.config import Settings
from alumnet.domain.ops.mail import Letter


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
    return msg


class SmtpTransport:
    """``smtp://user:pass@host:port`` (STARTTLS when offered) or ``smtps://`` (implicit TLS)."""

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

    def _send_sync(self, msg: EmailMessage) -> None:
        client: smtplib.SMTP
        client = (
            smtplib.SMTP_SSL(self.host, self.port, timeout=30)
            if self.tls
            else smtplib.SMTP(self.host, self.port, timeout=30)
        )
        with client:
            client.ehlo()
            if not self.tls and client.has_extn("starttls"):
                client.starttls()
                client.ehlo()
            if self.username and self.password:
                client.login(self.username, self.password)
            client.send_message(msg)

    async def send(self, *, to: str, letter: Letter) -> None:
        await asyncio.to_thread(self._send_sync, _message(self.sender, to, letter))


class OutboxTransport:
    """Writes each message as an ``.eml`` file, so that development needs no mail server."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    async def send(self, *, to: str, letter: Letter) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        msg = _message(self.sender, to, letter)
        name = letter.message_id.strip("<>").replace("@", "_") + ".eml"
        path = self.folder / name
        await asyncio.to_thread(path.write_bytes, msg.as_bytes())


def transport_for(settings: Settings) -> SmtpTransport | OutboxTransport:
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url, settings.mail_from)
    return OutboxTransport(settings.outbox_dir, settings.mail_from)
