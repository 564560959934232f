"""Hand a file to the person who asked: attached where the platform can carry files, else
behind a short-lived secret link served by ``GET /downloads/{token}``."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Context
from bot.messages import Attachment
from config.settings import HttpSettings
from storage.downloads import Download

# Long enough to click the link, short enough that a forwarded message stops working soon.
LINK_LIFETIME = timedelta(minutes=15)


def token_hash(token: str) -> str:
    """What is stored instead of the token: a database copy alone opens no link."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def base_url(http: HttpSettings) -> str:
    """Where staff reach this server: the configured public URL, else the listening address."""
    if http.public_url:
        return http.public_url.rstrip("/")
    return f"http://{http.host}:{http.port}"


async def offer_file(
    ctx: Context,
    filename: str,
    content_type: str,
    data: bytes,
    *,
    text_key: str,
    **values: Any,
) -> None:
    """Reply with ``text_key`` and the file, attached or as a link valid for 15 minutes."""
    text = ctx.t(text_key, **values)
    if ctx.capabilities.files:
        note = ctx.t("files.attached", filename=filename)
        await ctx.say(f"{text}\n{note}", attachment=Attachment(filename, content_type, data))
        return
    now = ctx.app.clock.now()
    await purge_expired(ctx.session, now)
    token = secrets.token_urlsafe(32)
    ctx.session.add(
        Download(
            token_hash=token_hash(token),
            filename=filename,
            content_type=content_type,
            data=data,
            created_at=now,
            expires_at=now + LINK_LIFETIME,
            created_by_adapter=ctx.event.adapter,
            created_by_id=ctx.event.user.id,
        )
    )
    url = f"{base_url(ctx.app.settings.http)}/downloads/{token}"
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    note = ctx.t("files.link", filename=filename, url=url, minutes=minutes)
    await ctx.say(f"{text}\n{note}")


async def fetch_download(session: AsyncSession, token: str, now: datetime) -> Download | None:
    """The file behind ``token`` if the link is still valid."""
    found: Download | None = await session.scalar(
        select(Download).where(Download.token_hash == token_hash(token), Download.expires_at > now)
    )
    return found


async def purge_expired(session: AsyncSession, now: datetime) -> None:
    """Drop files whose links have expired; called lazily when a new one is stored."""
    await session.execute(delete(Download).where(Download.expires_at <= now))
