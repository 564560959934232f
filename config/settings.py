"""dxbot settings: defaults < TOML file < ``DXBOT_*`` environment variables.

Sections mirror the TOML tables (``[http]``, ``[database]`` …); an environment variable
names the table and the key, e.g. ``DXBOT_HTTP_PORT`` or ``DXBOT_RELAY_SECRET``.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, DirectoryPath, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./dxbot.db"


class Section(BaseModel):
    """A settings table: a key it does not know (a typo such as ``secrt``) is an error, not
    silently ignored, so ``dxbot config check`` catches it."""

    model_config = ConfigDict(extra="forbid")


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    shutdown_timeout_seconds: float = Field(10.0, gt=0)
    # How staff reach this server, for download links (e.g. https://dxbot.town.lg.jp).
    public_url: str | None = None


class DatabaseSettings(Section):
    url: str = DEFAULT_DATABASE_URL
    pool_size: int = Field(10, ge=1)
    # SQLite: FULL makes every acknowledged event survive a power loss, not only a crash.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    auto_migrate_sqlite: bool = True
    # PostgreSQL: how long one statement (or a new connection) may wait for the server. A
    # connection that a firewall dropped silently otherwise waits for TCP to give up (~15 min).
    command_timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class RelaySettings(Section):
    secret: SecretStr | None = None
    # During a change of secret: requests signed with the old one are still accepted, so the
    # gateway and dxbot need not switch at the same second. Remove it once both use the new one.
    previous_secret: SecretStr | None = None
    outbound_url: str | None = None
    outbound_token: SecretStr | None = None
    buttons: bool = True
    timestamp_tolerance_seconds: int = Field(300, ge=1)
    send_timeout_seconds: float = Field(10.0, gt=0)

    @property
    def enabled(self) -> bool:
        return self.secret is not None and bool(self.secret.get_secret_value())


class SlackSettings(Section):
    """Slack (Events API, slash commands, interactivity); enabled by a signing secret."""

    signing_secret: SecretStr | None = None
    bot_token: SecretStr | None = None
    # Slack's Web API base; a closed network may reach it through a proxy or gateway.
    api_url: str = "https://slack.com/api/"
    send_timeout_seconds: float = Field(10.0, gt=0)

    @property
    def enabled(self) -> bool:
        return self.signing_secret is not None and bool(self.signing_secret.get_secret_value())


class LineWorksSettings(Section):
    """LINE WORKS Bot API 2.0; enabled by a bot secret."""

    bot_id: str | None = None
    bot_secret: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    service_account: str | None = None
    private_key_path: str | None = None
    api_url: str = "https://www.worksapis.com/v1.0"
    auth_url: str = "https://auth.worksmobile.com/oauth2/v2.0/token"
    send_timeout_seconds: float = Field(10.0, gt=0)

    @property
    def enabled(self) -> bool:
        return self.bot_secret is not None and bool(self.bot_secret.get_secret_value())


class MatrixSettings(Section):
    """Matrix as an application service (Synapse …); enabled by the hs_token."""

    # Client-Server API base of the homeserver (Synapse's client listener).
    homeserver_url: str = "http://127.0.0.1:8008"
    # The bot's Matrix ID: @<sender_localpart of the registration>:<server_name>.
    bot_user_id: str | None = None
    as_token: SecretStr | None = None
    hs_token: SecretStr | None = None
    send_timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("bot_user_id")
    @classmethod
    def _matrix_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"@[^:\s]+:\S+", value):
            raise ValueError("a Matrix user ID like @dxbot:example.lg.jp")
        return value

    @property
    def enabled(self) -> bool:
        return self.hs_token is not None and bool(self.hs_token.get_secret_value())


class RateLimitSettings(BaseModel):
    """A platform's send limit for one adapter; the dispatcher paces just below it."""

    model_config = ConfigDict(extra="forbid")

    per_minute: float = Field(ge=0)  # 0: no pacing for this adapter
    burst: int = Field(1, ge=1)  # sends that may go at once after a quiet spell


# Limits the platforms document. LINE WORKS: 240 requests/min per API on the Standard and
# Advanced plans (60 on the free plan), https://developers.worksmobile.com/jp/docs/rate-limits.
# A burst of 4 at dxbot's 98 % pace keeps every 60-second window within 240. Not paced: Slack
# limits chat.postMessage per channel, not per app; the Matrix registration lifts the
# homeserver's limits (rate_limited: false); a relay gateway's limit is the gateway's own.
DEFAULT_RATE_LIMITS: dict[str, RateLimitSettings] = {
    "lineworks": RateLimitSettings(per_minute=240, burst=4),
}


class OutboxSettings(Section):
    max_attempts: int = Field(8, ge=1)
    base_delay_seconds: float = Field(1.0, gt=0)
    max_delay_seconds: float = Field(300.0, gt=0)
    lease_seconds: float = Field(60.0, gt=0)
    poll_interval_seconds: float = Field(1.0, gt=0)
    batch_size: int = Field(50, ge=1)
    concurrency: int = Field(32, ge=1)
    shutdown_flush_seconds: float = Field(5.0, ge=0)
    # Sent and dead-lettered messages are deleted after this many days (0: kept for ever).
    keep_days: int = Field(90, ge=0)
    # Per adapter name; what is written here replaces that adapter's default, others keep theirs.
    rate_limits: dict[str, RateLimitSettings] = Field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS)
    )

    @field_validator("rate_limits")
    @classmethod
    def _over_defaults(cls, value: dict[str, RateLimitSettings]) -> dict[str, RateLimitSettings]:
        return {**DEFAULT_RATE_LIMITS, **value}

    def rate_limit(self, adapter: str) -> RateLimitSettings | None:
        """The pace for ``adapter``, or None when it is not paced."""
        limit = self.rate_limits.get(adapter)
        return limit if limit is not None and limit.per_minute > 0 else None


class InboxSettings(Section):
    poll_interval_seconds: float = Field(1.0, gt=0)
    # Per person: a steady rate and a burst; beyond them messages are skipped politely.
    user_rate_per_second: float = Field(3.0, gt=0)
    user_burst: int = Field(30, ge=1)
    max_attempts: int = Field(5, ge=1)
    # Events handled in one transaction (one commit for many); a failing one is redone alone.
    batch_size: int = Field(32, ge=1, le=500)
    # Pending events beyond which new ones are refused with 503 + Retry-After (0: no bound).
    max_backlog: int = Field(20_000, ge=0)
    # Handled events are deleted after this many days (0: kept for ever).
    keep_days: int = Field(30, ge=0)


class LocaleSettings(Section):
    default: Literal["ja", "en"] = "ja"
    timezone: str = "Asia/Tokyo"
    # What this town calls its policy section (総合政策課 …), where staff are told to ask it;
    # unset: the catalogue's name (ja.toml [terms]).
    policy_section: str | None = Field(None, min_length=1, max_length=40, pattern=r"^[^{}\s]+$")

    def terms(self) -> dict[str, str]:
        """The site's names the catalogues write in (``bot.i18n.Catalog.load``)."""
        return {} if self.policy_section is None else {"policy_section": self.policy_section}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Tokyo)") from exc
        return value


class FormSettings(Section):
    nudge_after_minutes: float = Field(30.0, gt=0)
    expire_after_hours: float = Field(24.0, gt=0)
    sweep_interval_seconds: float = Field(60.0, gt=0)
    # Submitted and cancelled forms and drafts untouched this long are deleted; 0 keeps them.
    keep_days: int = Field(90, ge=0)
    # The town's own form files (e.g. /etc/dxbot/forms): each replaces the packaged form of the
    # same name, or adds one. Outside the installed package, so an upgrade keeps them.
    directory: DirectoryPath | None = None

    @field_validator("directory", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``DXBOT_FORMS_DIRECTORY=`` (empty) means none, not the working folder."""
        return None if value == "" else value


# A typical town's sections (課); replaced by `dxbot directory import` where one exists.
DEFAULT_SECTIONS = [
    "総務課",
    "企画課",
    "財政課",
    "情報政策課",
    "税務課",
    "住民課",
    "市民課",
    "保険年金課",
    "福祉課",
    "子育て支援課",
    "健康推進課",
    "環境課",
    "産業振興課",
    "農林課",
    "建設課",
    "都市計画課",
    "上下水道課",
    "会計課",
    "教育総務課",
    "生涯学習課",
    "議会事務局",
]


class DirectorySettings(Section):
    sections: list[str] = Field(default_factory=lambda: list(DEFAULT_SECTIONS))


# The day a weekly digest goes out: the week's "first" business day, or a weekday (mon–fri).
DigestDay = Literal["first", "mon", "tue", "wed", "thu", "fri"]
CLOCK_TIME = r"^([01]?\d|2[0-3]):[0-5]\d$"  # "09:00", "9:00", "16:30"


class WorkingGroupSettings(Section):
    """A working group (部会) and what is routed to it."""

    name: str
    adapter: str = "relay"
    channel: str | None = None
    leaders: list[str] = Field(default_factory=list)
    sections: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    # This group's own weekly digest day and time; unset: [digest] weekly_day and weekly_time.
    digest_day: DigestDay | None = None
    digest_time: str | None = Field(None, pattern=CLOCK_TIME)


class PolicySettings(Section):
    """Policy staff (情報政策課): the queue for issues no working group takes."""

    adapter: str = "relay"
    channel: str | None = None
    users: list[str] = Field(default_factory=list)
    # Administrators: everything policy staff can do, plus settings-level work.
    admins: list[str] = Field(default_factory=list)


class CalendarSettings(Section):
    """Office days: weekends, national holidays and 年末年始 are closed; towns add their own."""

    extra_closures: list[date] = Field(default_factory=list)
    year_end_closure: bool = True
    # A reminder falling on a closed day moves to the previous (or next) business day.
    shift: Literal["previous", "next"] = "previous"


class DutyConfig(Section):
    """A working group's duty declared in the TOML file (``[[duties]]``)."""

    group: str
    title: str
    rule: str  # e.g. "毎月第2水曜 14:00", "weekly weekday=mon at=09:00", "2026-12-25 17:00"
    assignee: str = "leaders"  # leaders | leader:USER_ID | role:policy
    reminders: list[str] | None = None  # e.g. ["3bd@09:00", "0d@09:00"]


class DutySettings(Section):
    tick_seconds: float = Field(60.0, gt=0)
    # Reminders missed while the bot was down are still sent if at most this old.
    grace_minutes: float = Field(120.0, ge=0)
    default_reminders: list[str] = Field(default_factory=lambda: ["3bd@09:00", "0d@09:00"])
    overdue_reminder_time: str = Field("09:00", pattern=r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$")
    escalate_to_group_after_days: int = Field(2, ge=0)  # business days overdue
    escalate_to_policy_after_days: int = Field(5, ge=0)


class DigestSettings(Section):
    """Scheduled digests: weekly to each working group's channel, monthly to policy staff."""

    enabled: bool = True
    tick_seconds: float = Field(60.0, gt=0)
    # A named weekday that is a closed day moves to the next business day of the same week.
    weekly_day: DigestDay = "first"
    weekly_time: str = Field("09:00", pattern=CLOCK_TIME)
    monthly_business_day: int = Field(1, ge=1, le=10)  # 1: the month's first business day
    monthly_time: str = Field("09:00", pattern=CLOCK_TIME)
    # A digest missed while the bot was down is still posted if at most this late; later, skipped.
    grace_hours: float = Field(12.0, ge=0)
    stale_days: int = Field(30, ge=1)  # open issues with no movement this long are listed
    top_issues: int = Field(5, ge=1, le=20)
    list_limit: int = Field(10, ge=1, le=50)  # lines per list; the rest is "ほか N件"
    post_empty: bool = True  # nothing new: post one short line (true) or nothing (false)
    chart: bool = True  # attach a pipeline chart where the platform shows images


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = False


class Settings(BaseSettings):
    """Everything an operator can set; validated once at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="DXBOT_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
    )
    toml_path: ClassVar[Path | None] = None

    http: HttpSettings = HttpSettings()
    database: DatabaseSettings = DatabaseSettings()
    relay: RelaySettings = RelaySettings()
    slack: SlackSettings = SlackSettings()
    lineworks: LineWorksSettings = LineWorksSettings()
    matrix: MatrixSettings = MatrixSettings()
    outbox: OutboxSettings = OutboxSettings()
    inbox: InboxSettings = InboxSettings()
    locale: LocaleSettings = LocaleSettings()
    logging: LoggingSettings = LoggingSettings()
    forms: FormSettings = FormSettings()
    directory: DirectorySettings = DirectorySettings()
    groups: list[WorkingGroupSettings] = Field(default_factory=list)
    policy: PolicySettings = PolicySettings()
    calendar: CalendarSettings = CalendarSettings()
    duty: DutySettings = DutySettings()
    duties: list[DutyConfig] = Field(default_factory=list)
    digest: DigestSettings = DigestSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_path))
        return tuple(sources)


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from ``path`` (or ``$DXBOT_CONFIG``) and the environment.

    Raises ``FileNotFoundError`` for a named file that does not exist and
    ``pydantic.ValidationError`` for invalid values.
    """
    chosen = path or os.environ.get("DXBOT_CONFIG") or None
    toml_path = Path(chosen) if chosen else None
    if toml_path is not None and not toml_path.is_file():
        raise FileNotFoundError(str(toml_path))
    bound = type("Settings", (Settings,), {"toml_path": toml_path})
    settings: Settings = bound(**overrides)
    return settings
