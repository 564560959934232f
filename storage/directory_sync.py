"""Bring the database in line with a checked directory file, counting what changed.

Comparing before writing is what makes an import idempotent: a row that already says what the
file says is left alone and counted as unchanged, so re-importing the same file writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.directory import GroupLeader, WorkingGroup, staff_directory, stored_groups
from storage.issues import Section


@dataclass(frozen=True, slots=True)
class StaffEntry:
    """One row of the staff sheet (職員), already checked."""

    user_id: str
    name: str
    section: str
    role: str
    groups: tuple[str, ...] = ()  # the working groups this person leads
    locale: str | None = None  # None keeps the language the person chose in the chat


@dataclass(frozen=True, slots=True)
class GroupEntry:
    """One row of the working-group sheet (部会), already checked."""

    name: str
    adapter: str
    channel: str | None
    sections: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


@dataclass(slots=True)
class Tally:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deactivated)


@dataclass(slots=True)
class SyncResult:
    staff: Tally = field(default_factory=Tally)
    groups: Tally = field(default_factory=Tally)
    sections: Tally = field(default_factory=Tally)

    @property
    def changed(self) -> bool:
        return self.staff.changed or self.groups.changed or self.sections.changed


async def sync_directory(
    session: AsyncSession,
    *,
    adapter: str,
    staff: Sequence[StaffEntry],
    groups: Sequence[GroupEntry] | None,
    now: datetime,
    deactivate_missing: bool = False,
) -> SyncResult:
    """Upsert sections, groups (when a group sheet was given) and staff of ``adapter``.

    Rows missing from the file are kept; ``deactivate_missing`` marks them inactive instead.
    The caller owns the transaction (and rolls it back for a dry run).
    """
    result = SyncResult()
    mentioned = [e.section for e in staff] + [s for g in groups or () for s in g.sections]
    await _sync_sections(session, list(dict.fromkeys(mentioned)), deactivate_missing, result)
    if groups is not None:
        await _sync_groups(session, groups, deactivate_missing, result.groups)
    await _sync_staff(session, adapter, staff, now, deactivate_missing, result.staff)
    return result


async def _sync_sections(
    session: AsyncSession, names: list[str], deactivate_missing: bool, result: SyncResult
) -> None:
    tally = result.sections
    existing = {s.name: s for s in await session.scalars(select(Section))}
    for name in names:
        row = existing.get(name)
        if row is None:
            session.add(Section(name=name, active=True))
            tally.added += 1
        elif not row.active:
            row.active = True
            tally.updated += 1
        else:
            tally.unchanged += 1
    if deactivate_missing:
        for name, row in existing.items():
            if row.active and name not in names:
                row.active = False
                tally.deactivated += 1


async def _sync_groups(
    session: AsyncSession, groups: Sequence[GroupEntry], deactivate_missing: bool, tally: Tally
) -> None:
    existing = await stored_groups(session)
    for entry in groups:
        wanted: dict[str, Any] = {
            "adapter": entry.adapter,
            "channel": entry.channel,
            "sections": list(entry.sections),
            "keywords": list(entry.keywords),
            "active": True,
        }
        row = existing.get(entry.name)
        if row is None:
            session.add(WorkingGroup(name=entry.name, **wanted))
            tally.added += 1
        elif any(getattr(row, key) != value for key, value in wanted.items()):
            for key, value in wanted.items():
                setattr(row, key, value)
            tally.updated += 1
        else:
            tally.unchanged += 1
    if deactivate_missing:
        listed = {g.name for g in groups}
        for name, row in existing.items():
            if row.active and name not in listed:
                row.active = False
                # A group that comes back is led by whoever the staff sheet says then.
                await session.execute(delete(GroupLeader).where(GroupLeader.group_id == row.id))
                tally.deactivated += 1
    await session.flush()


async def _sync_staff(
    session: AsyncSession,
    adapter: str,
    staff: Sequence[StaffEntry],
    now: datetime,
    deactivate_missing: bool,
    tally: Tally,
) -> None:
    table = staff_directory
    rows = await session.execute(select(table).where(table.c.adapter == adapter))
    existing = {row["external_id"]: row for row in rows.mappings()}
    group_ids = {name: g.id for name, g in (await stored_groups(session)).items()}
    led = await _led_group_ids(session, adapter)
    new_rows: list[dict[str, Any]] = []
    for entry in staff:
        wanted_groups = {group_ids[name] for name in entry.groups}
        row = existing.get(entry.user_id)
        if row is None:
            new_rows.append(_new_row(adapter, entry, now))
            session.add_all(_leaders(adapter, entry.user_id, wanted_groups))
            tally.added += 1
            continue
        changes = _changes(row, entry)
        if changes:
            await session.execute(update(table).where(table.c.id == row["id"]).values(**changes))
        if wanted_groups != led.get(entry.user_id, set()):
            await _set_leaderships(session, adapter, entry.user_id, wanted_groups)
        elif not changes:
            tally.unchanged += 1
            continue
        tally.updated += 1
    if new_rows:
        await session.execute(insert(table), new_rows)
    if deactivate_missing:
        listed = {e.user_id for e in staff}
        for user_id, row in existing.items():
            if row["active"] and row["section"] is not None and user_id not in listed:
                await session.execute(
                    update(table).where(table.c.id == row["id"]).values(active=False)
                )
                await _set_leaderships(session, adapter, user_id, set())
                tally.deactivated += 1


def _new_row(adapter: str, entry: StaffEntry, now: datetime) -> dict[str, Any]:
    return {
        "adapter": adapter,
        "external_id": entry.user_id,
        "display_name": entry.name,
        "section": entry.section,
        "role": entry.role,
        "locale": entry.locale,
        "active": True,
        "created_at": now,
    }


def _changes(row: RowMapping, entry: StaffEntry) -> dict[str, Any]:
    wanted: dict[str, Any] = {
        "display_name": entry.name,
        "section": entry.section,
        "role": entry.role,
        "active": True,
    }
    if entry.locale is not None:
        wanted["locale"] = entry.locale
    return {key: value for key, value in wanted.items() if row[key] != value}


async def _led_group_ids(session: AsyncSession, adapter: str) -> dict[str, set[int]]:
    rows = await session.execute(
        select(GroupLeader.user_id, GroupLeader.group_id).where(GroupLeader.adapter == adapter)
    )
    led: dict[str, set[int]] = {}
    for user_id, group_id in rows:
        led.setdefault(user_id, set()).add(group_id)
    return led


async def _set_leaderships(
    session: AsyncSession, adapter: str, user_id: str, group_ids: set[int]
) -> None:
    """Make ``user_id`` lead exactly ``group_ids``."""
    await session.execute(
        delete(GroupLeader).where(GroupLeader.adapter == adapter, GroupLeader.user_id == user_id)
    )
    session.add_all(_leaders(adapter, user_id, group_ids))


def _leaders(adapter: str, user_id: str, group_ids: set[int]) -> list[GroupLeader]:
    return [GroupLeader(group_id=g, adapter=adapter, user_id=user_id) for g in sorted(group_ids)]
