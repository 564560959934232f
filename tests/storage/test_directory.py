"""The directory tables: migration, idempotent sync, and what identify_user reads."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import migrate
from storage.directory import (
    DirectoryEntry,
    GroupLeader,
    WorkingGroup,
    active_groups,
    listed_staff,
    staff_directory,
    staff_with_entry,
)
from storage.directory_sync import GroupEntry, StaffEntry, SyncResult, sync_directory
from storage.issues import Section
from storage.models import Staff

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
GROUPS = [
    GroupEntry("窓口部会", "relay", "room-madoguchi", ("市民課", "税務課"), ("窓口", "予約")),
    GroupEntry("ペーパーレス部会", "relay", "room-paper", (), ("紙", "押印")),
]
STAFF = [
    StaffEntry("L1", "佐藤 一郎", "市民課", "leader", ("窓口部会",)),
    StaffEntry("S1", "田中 花子", "市民課", "staff", (), "en"),
    StaffEntry("P1", "伊藤 直子", "情報政策課", "policy"),
]


async def _sync(
    sessions: async_sessionmaker[AsyncSession],
    staff: list[StaffEntry],
    groups: list[GroupEntry] | None = None,
    **kw: bool,
) -> SyncResult:
    async with sessions() as session, session.begin():
        return await sync_directory(
            session, adapter="relay", staff=staff, groups=groups, now=NOW, **kw
        )


async def _chat_staff(sessions: async_sessionmaker[AsyncSession], user: str) -> str:
    """A person who wrote to the bot without being in any directory file."""
    async with sessions() as session, session.begin():
        session.add(Staff(adapter="relay", external_id=user, display_name=user, created_at=NOW))
    return user


async def _entry(session: AsyncSession, user: str) -> DirectoryEntry:
    staff, entry = await staff_with_entry(session, "relay", user)
    assert staff is not None and staff.external_id == user
    return entry


async def _columns(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("staff")}
        )


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))


async def test_migration_adds_columns_that_chat_rows_fill_by_default(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chatter = await _chat_staff(sessions, "U1")
    assert {"section", "active"} <= await _columns(engine)
    await migrate.downgrade(engine, "0004")
    try:
        assert not {"section", "active"} & await _columns(engine)
        assert not {"working_groups", "group_leaders"} & await _tables(engine)
    finally:
        await migrate.upgrade(engine)
    async with sessions() as session:
        entry = await _entry(session, chatter)
    assert (entry.section, entry.active, entry.groups, entry.listed) == (None, True, (), False)


async def test_sync_adds_then_finds_everything_unchanged(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first = await _sync(sessions, STAFF, GROUPS)
    assert (first.staff.added, first.groups.added, first.sections.added) == (3, 2, 3)
    again = await _sync(sessions, STAFF, GROUPS)
    assert not again.changed
    assert (again.staff.unchanged, again.groups.unchanged, again.sections.unchanged) == (3, 2, 3)
    async with sessions() as session:
        groups = await active_groups(session)
        listed = await listed_staff(session, "relay")
        sections = set(await session.scalars(select(Section.name)))
    assert [(g.name, g.leaders) for g in groups] == [
        ("窓口部会", (("relay", "L1"),)),
        ("ペーパーレス部会", ()),
    ]
    assert groups[0].sections == ("市民課", "税務課") and groups[0].keywords == ("窓口", "予約")
    assert [(s.user_id, s.role, s.groups, s.locale) for s in listed] == [
        ("L1", "leader", ("窓口部会",), None),
        ("S1", "staff", (), "en"),
        ("P1", "policy", (), None),
    ]
    assert sections == {"市民課", "税務課", "情報政策課"}


async def test_a_change_of_leadership_or_name_is_one_update(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _sync(sessions, STAFF, GROUPS)
    moved = [
        StaffEntry("L1", "佐藤 一郎", "市民課", "leader", ("ペーパーレス部会",)),
        StaffEntry("S1", "田中 花子(旧姓 山田)", "市民課", "staff"),  # no language: kept
        STAFF[2],
    ]
    result = await _sync(sessions, moved)
    assert (result.staff.updated, result.staff.unchanged) == (2, 1)
    assert result.groups.unchanged == 0  # no group sheet: groups untouched and not counted
    async with sessions() as session:
        leaders = list(await session.scalars(select(GroupLeader.group_id)))
        paper = await session.scalar(
            select(WorkingGroup.id).where(WorkingGroup.name == "ペーパーレス部会")
        )
        locale = await session.scalar(
            select(staff_directory.c.locale).where(staff_directory.c.external_id == "S1")
        )
    assert leaders == [paper] and locale == "en"


async def test_deactivate_missing_touches_only_listed_rows(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _sync(sessions, STAFF, GROUPS)
    chatter = await _chat_staff(sessions, "U9")
    result = await _sync(sessions, STAFF[1:], GROUPS[1:], deactivate_missing=True)
    assert (result.staff.deactivated, result.groups.deactivated) == (1, 1)
    assert result.sections.deactivated == 1  # 税務課 was only routed to 窓口部会
    async with sessions() as session:
        rows = dict(
            (
                await session.execute(
                    select(staff_directory.c.external_id, staff_directory.c.active)
                )
            ).all()
        )
        entry = await _entry(session, "L1")
        stranger = await _entry(session, chatter)
        leaders = list(await session.scalars(select(GroupLeader)))
    assert rows == {"L1": False, "S1": True, "P1": True, "U9": True}  # chat-only U9 kept
    assert (entry.active, entry.groups, entry.listed) == (False, (), True)
    assert stranger.active and not stranger.listed
    assert leaders == []


async def test_reimport_brings_a_deactivated_person_and_group_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _sync(sessions, STAFF, GROUPS)
    await _sync(sessions, STAFF[1:], GROUPS[1:], deactivate_missing=True)
    back = await _sync(sessions, STAFF, GROUPS)
    assert (back.staff.updated, back.groups.updated, back.sections.updated) == (1, 1, 1)
    async with sessions() as session:
        entry = await _entry(session, "L1")
    assert entry.active and entry.groups == ("窓口部会",)


async def test_one_query_gives_a_leaders_row_with_every_group_they_lead(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The chat path reads the staff row, section, status and led groups in one statement."""
    groups = ("窓口部会", "ペーパーレス部会")
    two_groups = [StaffEntry("L1", "佐藤 一郎", "市民課", "leader", groups)]
    await _sync(sessions, two_groups, GROUPS)
    async with sessions() as session:
        staff, entry = await staff_with_entry(session, "relay", "L1")
        unknown = await staff_with_entry(session, "relay", "nobody")
    assert staff is not None and (staff.display_name, staff.role) == ("佐藤 一郎", "leader")
    assert entry == DirectoryEntry("市民課", True, ("ペーパーレス部会", "窓口部会"))
    assert unknown == (None, DirectoryEntry(None, True, ()))
