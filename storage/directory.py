"""The directory (名簿): working groups (部会), their leaders, and staff's section and status.

Municipalities keep this in Excel and load it with ``dxbot directory import``. The staff
table's ``section`` and ``active`` columns belong to the directory: they are reached through
``staff_directory`` here so that the chat path (``storage.models.Staff``) stays unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Select,
    String,
    UniqueConstraint,
    and_,
    bindparam,
    column,
    literal_column,
    select,
    table,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigIntPK, Staff
from storage.types import UTCDateTime

# The staff table as the directory sees it (migration 0005 adds section and active).
staff_directory = table(
    "staff",
    column("id", BigInteger),
    column("adapter", String),
    column("external_id", String),
    column("display_name", String),
    column("locale", String),
    column("role", String),
    column("section", String),
    column("active", Boolean),
    column("created_at", UTCDateTime()),
)


class WorkingGroup(Base):
    """A working group (部会): the sections and themes routed to it, and where it talks."""

    __tablename__ = "working_groups"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    adapter: Mapped[str] = mapped_column(String(32), default="relay")
    channel: Mapped[str | None] = mapped_column(String(255))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)  # themes (テーマ)
    sections: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)


class GroupLeader(Base):
    """A DX推進リーダー leading a working group, by platform user id."""

    __tablename__ = "group_leaders"
    __table_args__ = (
        UniqueConstraint("group_id", "adapter", "user_id", name="uq_group_leader"),
        Index("ix_group_leaders_user", "adapter", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("working_groups.id", ondelete="CASCADE")
    )
    adapter: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(255))


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """An active working group with its leaders' (adapter, user id)."""

    name: str
    adapter: str
    channel: str | None
    sections: tuple[str, ...]
    keywords: tuple[str, ...]
    leaders: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """What the directory says about one staff member."""

    section: str | None
    active: bool
    groups: tuple[str, ...]  # the active working groups they lead

    @property
    def listed(self) -> bool:
        """Imported from a directory file (a chat alone never sets the section)."""
        return self.section is not None


async def active_groups(session: AsyncSession) -> list[GroupRecord]:
    """Every active working group, in the order they were first imported."""
    groups = list(
        await session.scalars(
            select(WorkingGroup).where(WorkingGroup.active.is_(True)).order_by(WorkingGroup.id)
        )
    )
    leaders: dict[int, list[tuple[str, str]]] = {}
    rows = await session.execute(
        select(GroupLeader.group_id, GroupLeader.adapter, GroupLeader.user_id)
        .where(GroupLeader.group_id.in_([g.id for g in groups]))
        .order_by(GroupLeader.id)
    )
    for group_id, adapter, user_id in rows:
        leaders.setdefault(group_id, []).append((adapter, user_id))
    return [
        GroupRecord(
            name=g.name,
            adapter=g.adapter,
            channel=g.channel,
            sections=tuple(g.sections),
            keywords=tuple(g.keywords),
            leaders=tuple(leaders.get(g.id, ())),
        )
        for g in groups
    ]


def _staff_query() -> Select[Staff, str | None, bool | None, str | None]:
    # The directory's columns of the same staff row, named in SQL: staff_directory is another
    # FROM object for the same table, and would join it a second time.
    section = literal_column("staff.section", String)
    active = literal_column("staff.active", Boolean)
    return (
        select(Staff, section, active, WorkingGroup.name)
        .outerjoin(
            GroupLeader,
            and_(GroupLeader.adapter == Staff.adapter, GroupLeader.user_id == Staff.external_id),
        )
        .outerjoin(
            WorkingGroup,
            and_(WorkingGroup.id == GroupLeader.group_id, WorkingGroup.active.is_(True)),
        )
        .where(Staff.adapter == bindparam("adapter"), Staff.external_id == bindparam("user"))
        .order_by(WorkingGroup.name)
    )


_STAFF = _staff_query()  # built once: it runs on every event

UNLISTED = DirectoryEntry(section=None, active=True, groups=())


async def staff_with_entry(
    session: AsyncSession, adapter: str, user_id: str
) -> tuple[Staff | None, DirectoryEntry]:
    """The staff row of a platform user and what the directory says of them, in one query
    (it runs on every event); ``(None, UNLISTED)`` for someone the bot has never seen."""
    rows = (await session.execute(_STAFF, {"adapter": adapter, "user": user_id})).all()
    if not rows:
        return None, UNLISTED
    staff, section, active, _ = rows[0]
    listed_active = bool(active)
    groups = tuple(name for *_, name in rows if name is not None) if listed_active else ()
    return staff, DirectoryEntry(section=section, active=listed_active, groups=groups)


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """A listed, active staff member as the export writes them."""

    user_id: str
    name: str
    section: str
    role: str
    groups: tuple[str, ...]
    locale: str | None


async def listed_staff(session: AsyncSession, adapter: str) -> list[StaffRecord]:
    """Active staff of ``adapter`` who came from a directory file, with the groups they lead."""
    staff = staff_directory
    rows = await session.execute(
        select(
            staff.c.external_id,
            staff.c.display_name,
            staff.c.section,
            staff.c.role,
            staff.c.locale,
        )
        .where(
            staff.c.adapter == adapter,
            staff.c.active.is_(True),
            staff.c.section.is_not(None),
        )
        .order_by(staff.c.id)
    )
    led = await leaderships(session, adapter)
    return [
        StaffRecord(
            user_id=user_id,
            name=name,
            section=section,
            role=role,
            groups=tuple(led.get(user_id, ())),
            locale=locale,
        )
        for user_id, name, section, role, locale in rows
    ]


async def chosen_locales(
    session: AsyncSession, adapter: str, user_ids: Iterable[str]
) -> dict[str, str]:
    """User id → the language a person chose (``/dx lang`` or the directory file), for those
    of ``user_ids`` on ``adapter`` who chose one."""
    wanted = list(user_ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Staff.external_id, Staff.locale).where(
            Staff.adapter == adapter, Staff.external_id.in_(wanted), Staff.locale.is_not(None)
        )
    )
    return {user_id: locale for user_id, locale in rows if locale}


async def leaderships(session: AsyncSession, adapter: str) -> dict[str, list[str]]:
    """User id → names of the active groups they lead, for everyone on ``adapter``."""
    rows = await session.execute(
        select(GroupLeader.user_id, WorkingGroup.name)
        .join(WorkingGroup, WorkingGroup.id == GroupLeader.group_id)
        .where(GroupLeader.adapter == adapter, WorkingGroup.active.is_(True))
        .order_by(GroupLeader.id)
    )
    led: dict[str, list[str]] = {}
    for user_id, name in rows:
        led.setdefault(user_id, []).append(name)
    return led


async def stored_groups(session: AsyncSession) -> dict[str, WorkingGroup]:
    """Every working group row (active or not) by name."""
    return {g.name: g for g in await session.scalars(select(WorkingGroup))}
