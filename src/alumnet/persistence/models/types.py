"""Column shapes used by every context."""

from __future__ import annotations

from typing import Annotated

from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import mapped_column

# BIGINT on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

IdPK = Annotated[int, mapped_column(BigId, primary_key=True, autoincrement=True)]
