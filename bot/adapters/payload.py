"""Reading a platform's JSON body field by field; every refusal names the field (400)."""

from __future__ import annotations

import json
from typing import Any

from bot.adapters.base import PayloadError


def load_object(body: bytes, label: str = "body") -> dict[str, Any]:
    """``body`` as a JSON object (UTF-8; any nesting depth refused cleanly); a refusal names
    ``label`` (the body, or a field that carries JSON such as Slack's ``payload``)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PayloadError(label, "not UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise PayloadError(label, "not valid JSON") from exc
    if not isinstance(data, dict):
        raise PayloadError(label, "must be a JSON object")
    return data


def get_object(data: dict[str, Any], key: str, label: str | None = None) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise PayloadError(label or key, "required object")
    return value


def get_string(
    data: dict[str, Any],
    key: str,
    label: str | None = None,
    *,
    allow_empty: bool = False,
    limit: int | None = None,
) -> str:
    """A string field; NUL is refused because PostgreSQL cannot store it."""
    value = data.get(key)
    name = label or key
    if not isinstance(value, str):
        raise PayloadError(name, "required string")
    if not allow_empty and not value.strip():
        raise PayloadError(name, "must not be empty")
    if limit is not None and len(value) > limit:
        raise PayloadError(name, f"longer than {limit} characters")
    if "\x00" in value:
        raise PayloadError(name, "contains a NUL character")
    return value
