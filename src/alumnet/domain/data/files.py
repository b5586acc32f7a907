"""Files kept in the database, a chunk at a time: uploads to import, and exports. Readers
and writers never hold a whole file in memory; downloads go through short-lived signed
links."""

from __future__ import annotations

import asyncio
import hashlib
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote

import jwt
from sqlalchemy import insert, select, true, update

from alumnet.config import Settings
from alumnet.domain.errors import DomainError
from alumnet.persistence.models import FileChunk, StoredFile

CHUNK = 1024 * 1024
LINK_AUDIENCE = "alumnet-file"
LINK_TTL = timedelta(minutes=15)


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The file is larger than the limit of {limit // (1024 * 1024)} MB.")


class LocalOutput:
    """A job's output, gathered in a local temporary file and then stored in one short
    transaction: no transaction stays open while the job reads (SQLite has one writer at a
    time, and the job's progress is written meanwhile). Refuses to grow past ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size = limit, 0
        self.local = tempfile.TemporaryFile()  # noqa: SIM115 (closed by __exit__)

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge(self.limit)
        self.local.write(data)

    async def store(
        self, rt: Any, *, owner_id: int | None, name: str, content_type: str, expires_in: timedelta
    ) -> StoredFile:
        self.local.seek(0)
        async with rt.transaction() as uow:
            writer = await new_file(
                uow.session, owner_id=owner_id, name=name, content_type=content_type,
                expires_in=expires_in,
            )  # fmt: skip
            while data := self.local.read(CHUNK):
                await writer.write(data)
            return await writer.close()

    def __enter__(self) -> LocalOutput:
        return self

    def __exit__(self, *_: object) -> None:
        self.local.close()


class FileWriter:
    """Appends chunks to a new stored file inside the caller's transaction."""

    def __init__(self, session: Any, file: StoredFile, limit: int | None) -> None:
        self.session, self.file, self.limit = session, file, limit
        self.hash = hashlib.sha256()
        self.seq = 0
        self.buffer = bytearray()

    async def write(self, data: bytes) -> None:
        self.buffer += data
        self.file.size += len(data)
        self.hash.update(data)
        if self.limit is not None and self.file.size > self.limit:
            raise TooLarge(self.limit)
        while len(self.buffer) >= CHUNK:
            await self._flush(bytes(self.buffer[:CHUNK]))
            del self.buffer[:CHUNK]

    async def _flush(self, data: bytes) -> None:
        await self.session.execute(
            insert(FileChunk).values(file_id=self.file.id, seq=self.seq, data=data)
        )
        self.seq += 1

    async def close(self) -> StoredFile:
        if self.buffer:
            await self._flush(bytes(self.buffer))
            self.buffer.clear()
        self.file.sha256 = self.hash.hexdigest()
        await self.session.execute(
            update(StoredFile)
            .where(StoredFile.id == self.file.id)
            .values(size=self.file.size, sha256=self.file.sha256)
        )
        return self.file


async def new_file(
    session: Any,
    *,
    owner_id: int | None,
    name: str,
    content_type: str,
    expires_in: timedelta | None,
    limit: int | None = None,
) -> FileWriter:
    now = datetime.now(UTC)
    file = StoredFile(
        owner_id=owner_id, name=name[:255], content_type=content_type, size=0,
        created_at=now, expires_at=now + expires_in if expires_in else None,
    )  # fmt: skip
    session.add(file)
    await session.flush()
    return FileWriter(session, file, limit)


async def chunks(db: Any, file_id: int) -> AsyncIterator[bytes]:
    """The file's bytes, a chunk (one statement) at a time."""
    seq = 0
    while True:
        async with db.connect() as conn:
            found = await conn.execute(
                select(FileChunk.data).where(FileChunk.file_id == file_id, FileChunk.seq == seq)
            )
            data = found.scalar()
        if data is None:
            return
        yield bytes(data)
        seq += 1


def download_url(
    settings: Settings,
    user_id: int,
    file_id: int,
    *,
    shared: bool = False,
    ttl: timedelta = LINK_TTL,
) -> str:
    """A link to one of ``user_id``'s files, valid for ``ttl`` (an e-mailed one longer);
    ``shared``: to a file someone else owns that the caller has just checked ``user_id``
    may read (a student's work, for a mentor)."""
    claims = {"sub": str(user_id), "file": file_id, "aud": LINK_AUDIENCE,
              "exp": datetime.now(UTC) + ttl}  # fmt: skip
    if shared:
        claims["shared"] = True
    token = jwt.encode(claims, settings.secret_key, algorithm="HS256")
    return f"{settings.public_url}/downloads/file?token={token}"


def read_link(settings: Settings, token: str) -> tuple[int, int, bool] | None:
    """(user id, file id, shared) behind a valid, unexpired link."""
    try:
        claims = jwt.decode(
            token, settings.secret_key, algorithms=["HS256"], audience=LINK_AUDIENCE,
            options={"require": ["sub", "file", "aud", "exp"]},
        )  # fmt: skip
        return int(claims["sub"]), int(claims["file"]), claims.get("shared") is True
    except (jwt.PyJWTError, TypeError, ValueError):
        return None


async def spool(db: Any, file_id: int) -> Any:
    """The file copied to a local temporary file (deleted when closed), to be parsed as a
    stream: the database hands it over a chunk at a time."""
    local = tempfile.TemporaryFile()  # noqa: SIM115  (the caller closes it)
    async for data in chunks(db, file_id):
        local.write(data)
    local.seek(0)
    return local


async def owned(db: Any, user_id: int, file_id: int, shared: bool = False) -> Any:
    """The stored file if it is this user's (or the link says it was shared with them) and
    not expired."""
    mine = true() if shared else StoredFile.owner_id == user_id
    async with db.connect() as conn:
        found = await conn.execute(
            select(StoredFile.id, StoredFile.name, StoredFile.content_type).where(
                StoredFile.id == file_id, mine,
                (StoredFile.expires_at.is_(None)) | (StoredFile.expires_at > datetime.now(UTC)),
            )
        )  # fmt: skip
        return found.first()


CLEANUP_JOB = "data.cleanup"


async def delete_expired(rt: Any) -> dict[str, int]:
    """Nightly: expired files (exports, bulk query results, personal-data exports) go, with
    their chunks and the personal-data export records that point at them."""
    from sqlalchemy import delete

    from alumnet.persistence.models import PersonalExport

    now = datetime.now(UTC)
    async with rt.transaction() as uow:
        expired = select(StoredFile.id).where(StoredFile.expires_at < now)
        await uow.session.execute(delete(PersonalExport).where(PersonalExport.file_id.in_(expired)))
        gone = await uow.session.execute(delete(StoredFile).where(StoredFile.expires_at < now))
    return {"files": int(getattr(gone, "rowcount", 0) or 0)}


# What people hand in or share (work, resources): the type is read from the content, and
# the name must agree with it.
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ACCEPTED = {
    "application/pdf": (".pdf",),
    DOCX: (".docx",),
    "application/zip": (".zip",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
}


def sniff(head: bytes, name: str) -> str | None:
    """The accepted type of a file from its first bytes, if its name says the same; None
    if it is not one alumnet accepts, or not what its name says. A DOCX is a ZIP named
    .docx (``whole`` then looks for Word's parts)."""
    kind: str | None = None
    if head.startswith(b"%PDF-"):
        kind = "application/pdf"
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "image/png"
    elif head.startswith(b"\xff\xd8\xff"):
        kind = "image/jpeg"
    elif head[:6] in (b"GIF87a", b"GIF89a"):
        kind = "image/gif"
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "image/webp"
    elif head.startswith(b"PK\x03\x04"):
        kind = DOCX if name.lower().endswith(".docx") else "application/zip"
    if kind is None or not name.lower().endswith(ACCEPTED[kind]):
        return None
    return kind


DOCX_PARTS = ("[Content_Types].xml", "word/document.xml")
ZIP_ENTRIES_MAX = 10_000


def whole(kind: str, local: BinaryIO, size: int) -> bool:
    """Whether the whole file (read from ``local``) is a complete file of the sniffed kind,
    not just its first bytes: a PDF ends with ``%%EOF``; an image has its header and end
    marker; a ZIP's directory can be read (at most 10,000 entries; nothing is unpacked)
    and a DOCX names Word's parts."""
    local.seek(max(0, size - 1024))
    tail = local.read()
    local.seek(0)
    head = local.read(32)
    if kind == "application/pdf":
        return b"%%EOF" in tail
    if kind == "image/png":
        return size >= 57 and head[12:16] == b"IHDR" and b"IEND" in tail
    if kind == "image/jpeg":
        return size >= 4 and b"\xff\xd9" in tail
    if kind == "image/gif":
        return size >= 14 and b";" in tail
    if kind == "image/webp":
        return size >= 20 and int.from_bytes(head[4:8], "little") + 8 <= size
    local.seek(0)
    try:
        with zipfile.ZipFile(local) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    if not entries or len(entries) > ZIP_ENTRIES_MAX:
        return False
    if kind == "application/zip":
        return True
    names = {entry.filename for entry in entries}
    return all(part in names for part in DOCX_PARTS)


# Characters never kept in a file's name: control characters, quotes and separators that
# would let a name break out of a header or a path.
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')


def safe_name(name: str, default: str = "file") -> str:
    """A name as uploaded, fit to keep and to send back in a header: no control
    characters, quotes or path separators (each run becomes "_"), no leading dots or
    spaces, at most 255 characters with its extension kept."""
    cleaned = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", name)).strip(" .")
    if not cleaned:
        return default
    if len(cleaned) > 255:
        stem, dot, extension = cleaned.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            return stem[: 254 - len(extension)] + "." + extension
        return cleaned[:255]
    return cleaned


def content_disposition(name: str) -> str:
    """``attachment`` with the name for every browser: an ASCII fallback, and the name
    itself percent-encoded (RFC 6266, RFC 5987)."""
    clean = safe_name(name)
    ascii_name = unicodedata.normalize("NFKD", clean).encode("ascii", "ignore").decode() or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean, safe='')}"


@dataclass
class Received:
    """A file handed in, checked and waiting in a local temporary file to be stored."""

    name: str
    kind: str
    size: int
    local: BinaryIO

    def close(self) -> None:
        self.local.close()


async def receive(
    name: str, read: Callable[[int], Awaitable[bytes]], limit: int, field: str = "file"
) -> Received:
    """A file someone hands in or shares, copied to a local temporary file before anything
    is written (so no transaction waits on it): FILE_TOO_LARGE past ``limit`` bytes,
    FILE_TYPE unless it is a whole PDF, DOCX, ZIP, PNG, JPEG, GIF or WebP file whose name
    says what it is. Its name is kept made safe (``safe_name``)."""
    safe = safe_name(name, "upload")
    local = tempfile.TemporaryFile()  # noqa: SIM115 (closed by Received.close, or here)
    try:
        size = 0
        while data := await read(CHUNK):
            size += len(data)
            if size > limit:
                raise DomainError.of("FILE_TOO_LARGE", str(TooLarge(limit)), field)
            local.write(data)
        local.seek(0)
        kind = sniff(local.read(64), safe)
        if kind is None or not await asyncio.to_thread(whole, kind, local, size):
            raise DomainError.of(
                "FILE_TYPE",
                "Give a complete PDF, DOCX, ZIP, PNG, JPEG, GIF or WebP file whose name says "
                "what it is.",
                field,
            )
    except BaseException:
        local.close()
        raise
    local.seek(0)
    return Received(name=safe, kind=kind, size=size, local=local)


async def store_received(
    session: Any, received: Received, *, owner_id: int | None, expires_in: timedelta | None
) -> StoredFile:
    """Keep a received file, in the caller's transaction."""
    writer = await new_file(
        session, owner_id=owner_id, name=received.name, content_type=received.kind,
        expires_in=expires_in,
    )  # fmt: skip
    received.local.seek(0)
    while data := received.local.read(CHUNK):
        await writer.write(data)
    return await writer.close()
