"""The working groups (部会) in force: the configuration's, overridden by the directory's.

``[[groups]]`` in the TOML file keeps working; a group imported with ``dxbot directory import``
replaces the configured group of the same name, in the same place (routing takes the first
match, so the configured order is kept), and the directory's other groups follow.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.text import fold
from config.settings import Settings, WorkingGroupSettings
from storage import directory
from storage.directory import GroupRecord


async def working_groups(session: AsyncSession, settings: Settings) -> list[WorkingGroupSettings]:
    """Every working group: configured ones, then the directory's, the directory winning."""
    stored = {g.name: _settings(g) for g in await directory.active_groups(session)}
    merged = [stored.pop(g.name, g) for g in settings.groups]
    return merged + list(stored.values())


async def working_group(
    session: AsyncSession, settings: Settings, name: str | None
) -> WorkingGroupSettings | None:
    """The group called ``name`` (compared as staff type it), or None."""
    if name is None:
        return None
    wanted = fold(name)
    groups = await working_groups(session, settings)
    return next((g for g in groups if fold(g.name) == wanted), None)


def _settings(group: GroupRecord) -> WorkingGroupSettings:
    # Leaders are told on the group's own platform: ids from another one would not reach them.
    leaders = [user for adapter, user in group.leaders if adapter == group.adapter]
    return WorkingGroupSettings(
        name=group.name,
        adapter=group.adapter,
        channel=group.channel,
        leaders=leaders,
        sections=list(group.sections),
        keywords=list(group.keywords),
    )
