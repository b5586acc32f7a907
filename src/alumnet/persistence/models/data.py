"""Data in and out: stored files (uploads and exports, in chunks), imports and what each
import did to each row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column

from alumnet.persistence.models.base import Base, utcnow
from alumnet.persistence.models.types import BigId, IdPK


class StoredFile(Base):
    """A file kept in the database (so that API processes and workers on other machines
    share it), written and read a chunk at a time."""

    __tablename__ = "stored_files"

    id: Mapped[IdPK]
    owner_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigId, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]


class FileChunk(Base):
    __tablename__ = "file_chunks"

    file_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Import(Base):
    """One import of a file: who, what, how its columns were read, and how it went."""

    __tablename__ = "imports"

    id: Mapped[IdPK]
    kind: Mapped[str] = mapped_column(String(32))  # alumni, students, enrollments, …
    # uploaded, previewed, running, completed, failed, rolled_back
    status: Mapped[str] = mapped_column(String(16), default="uploaded", index=True)
    file_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stored_files.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(String(255))
    # Runs of one file (the same checksum) at once are told apart (`ALREADY_RUNNING`).
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigId)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    all_or_nothing: Mapped[bool] = mapped_column(default=False)
    dry_run: Mapped[bool] = mapped_column(default=False)
    # People it creates get an invitation e-mail to choose a password.
    invite: Mapped[bool] = mapped_column(default=False)
    total: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    job_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # Who is working on it, for a run or rollback that stops without a word (a worker
    # killed): the process ("host/pid namespace:pid:start"; None once done or handed to a
    # new job), its last sign of life (each batch), and the number of times a job has taken
    # it up, which a batch must still find to commit (a stale process's batch is refused).
    runner: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None]
    attempt: Mapped[int] = mapped_column(default=0, server_default="0")
    # Whether the recorded rows are a run's (written: rolled back from, and gone on from
    # when a run stopped part way) rather than a preview's (replaced by the next attempt).
    rows_of_run: Mapped[bool] = mapped_column(default=False, server_default=false())


class ImportRow(Base):
    """What an import did (or, in a preview, would do) with one row of its file."""

    __tablename__ = "import_rows"
    __table_args__ = (Index("ix_import_rows_import_row", "import_id", "row_number"),)

    id: Mapped[IdPK]
    import_id: Mapped[int] = mapped_column(BigId, ForeignKey("imports.id", ondelete="CASCADE"))
    row_number: Mapped[int]
    # create, update, unchanged, reject (a preview); created, updated, … once run
    action: Mapped[str] = mapped_column(String(16))
    natural_key: Mapped[str | None] = mapped_column(String(255))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(BigId)
    problems: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    duplicates: Mapped[list[int] | None] = mapped_column(JSON)
    # The values before and after the import, for rollback ("changed since?").
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
