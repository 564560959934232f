"""Files waiting to be fetched by link, for platforms that cannot carry an attachment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigIntPK


class Download(Base):
    """One file behind a secret link; only the token's SHA-256 is kept, so a leaked
    database does not leak working links."""

    __tablename__ = "downloads"
    __table_args__ = (Index("ix_downloads_expires", "expires_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    created_by_adapter: Mapped[str] = mapped_column(String(32))
    created_by_id: Mapped[str] = mapped_column(String(255))
