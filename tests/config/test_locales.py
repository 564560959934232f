"""Locale catalogues: English covers every Japanese key, and code uses only real keys."""

from __future__ import annotations

import re
from pathlib import Path

from bot.i18n import Catalog

ROOT = Path(__file__).resolve().parents[2]


def test_english_has_every_japanese_key_with_the_same_placeholders() -> None:
    catalog = Catalog.load()
    ja, en = catalog.keys("ja"), catalog.keys("en")
    assert ja - en == set(), f"missing in en.toml: {sorted(ja - en)}"
    for key in ja:
        ja_text = catalog.t("ja", key)
        en_text = catalog.t("en", key)
        assert set(re.findall(r"{(\w+)}", ja_text)) == set(re.findall(r"{(\w+)}", en_text)), key


def test_every_key_used_in_code_exists() -> None:
    catalog = Catalog.load()
    keys = catalog.keys("ja")
    used: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]:
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'\.t\(\s*"([a-z_.]+)"', source))
        used |= {f"cli.{k}" for k in re.findall(r'text\(\s*"([a-z_]+)"', source)}
    assert used, "no keys found: the pattern is wrong"
    assert used - keys == set()


def test_missing_key_falls_back_to_japanese_then_shows_the_key() -> None:
    catalog = Catalog({"ja": {"a": "あ {n}"}, "en": {}}, default="ja")
    assert catalog.t("en", "a", n=1) == "あ 1"
    assert catalog.t("en", "nope") == "nope"
    assert catalog.t("ja", "a") == "あ {n}"


def test_a_site_term_is_written_in_at_load_and_lists_join_in_the_readers_language() -> None:
    catalog = Catalog.load(terms={"policy_section": "総合政策課"})
    assert "総合政策課へご連絡ください" in catalog.t("ja", "errors.internal")
    assert catalog.t("ja", "roles.policy") == "総合政策課"
    assert "{policy_section}" not in catalog.t("en", "roles.policy")
    assert Catalog.load().t("ja", "roles.policy") == "情報政策課"
    labels = ("毎日", "毎週")
    assert catalog.t("ja", "answers.invalid.not_a_choice", choices=labels).endswith("毎日、毎週")
    assert catalog.t("en", "answers.invalid.not_a_choice", choices=labels).endswith("毎日, 毎週")
    assert catalog.has("en", "platforms.relay") and not catalog.has("ja", "platforms.teams")


def test_a_policy_section_name_that_would_break_the_messages_is_a_settings_error() -> None:
    import pytest
    from pydantic import ValidationError

    from config.settings import LocaleSettings

    assert LocaleSettings(policy_section="DX推進課").terms() == {"policy_section": "DX推進課"}
    for bad in ("", "総合 政策課", "{x}", "x" * 41):
        with pytest.raises(ValidationError):
            LocaleSettings(policy_section=bad)
