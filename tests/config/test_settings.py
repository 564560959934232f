"""Settings: defaults < TOML < environment; `dxbot config check` explains errors plainly."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.cli import main
from config.settings import DEFAULT_DATABASE_URL, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.toml"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("DXBOT_"):
            monkeypatch.delenv(name)


def test_defaults_serve_a_town_on_sqlite() -> None:
    settings = load_settings()
    assert settings.database.url == DEFAULT_DATABASE_URL
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8080)
    assert settings.http.max_body_bytes == 1024 * 1024
    assert settings.locale.default == "ja" and settings.locale.timezone == "Asia/Tokyo"
    assert not settings.relay.enabled


def test_environment_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "dxbot.toml"
    toml.write_text(
        '[http]\nport = 9000\nhost = "0.0.0.0"\n[relay]\nsecret = "from-file"\nbuttons = false\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("DXBOT_HTTP_PORT", "9100")
    monkeypatch.setenv("DXBOT_RELAY_OUTBOUND_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("DXBOT_HTTP_MAX_BODY_BYTES", "4096")
    settings = load_settings(toml)
    assert settings.http.port == 9100  # env wins
    assert settings.http.host == "0.0.0.0"  # file value kept
    assert settings.http.max_body_bytes == 4096
    assert settings.relay.enabled and settings.relay.buttons is False
    assert settings.relay.outbound_url == "http://127.0.0.1:9999"


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "x.toml"
    toml.write_text("[outbox]\nmax_attempts = 3\n", encoding="utf-8")
    monkeypatch.setenv("DXBOT_CONFIG", str(toml))
    assert load_settings().outbox.max_attempts == 3


def test_invalid_values_are_rejected(tmp_path: Path) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text('[http]\nport = 70000\n[database]\nurl = "mysql://x"\n', encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        load_settings(toml)
    locations = {tuple(e["loc"]) for e in caught.value.errors()}
    assert ("http", "port") in locations and ("database", "url") in locations


def test_example_toml_is_valid_and_documents_every_setting() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.database.url == DEFAULT_DATABASE_URL
    text = EXAMPLE.read_text(encoding="utf-8")
    for section, model in settings:
        if isinstance(model, list):  # tables of their own, e.g. [[groups]], shown commented
            assert f"[[{section}]]" in text, section
            continue
        assert f"[{section}]" in text, section
        for key in type(model).model_fields:
            assert f"{key} =" in text, f"{section}.{key} missing from example.toml"
    from config.settings import DutyConfig, WorkingGroupSettings

    for table, model in (("groups", WorkingGroupSettings), ("duties", DutyConfig)):
        for key in model.model_fields:
            assert f"# {key} =" in text, f"{table}.{key} missing from example.toml"


def test_config_check_explains_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text("[http]\nport = 0\n[unknown]\nx = 1\n", encoding="utf-8")
    assert main(["--config", str(toml), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "設定に誤りがあります" in err
    assert "http.port" in err and "unknown" in err


def test_a_misspelt_key_is_named_not_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``[relay] secrt`` would leave the relay off while config check said all is well."""
    toml = tmp_path / "typo.toml"
    toml.write_text(
        '[relay]\nsecrt = "x"\n[[groups]]\nname = "窓口部会"\nleader = ["U1"]\n',
        encoding="utf-8",
    )
    assert main(["--config", str(toml), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "relay.secrt" in err and "groups.0.leader" in err
    monkeypatch.setenv("DXBOT_HTTP_PROT", "9000")
    assert main(["config", "check"]) == 2
    assert "http.prot" in capsys.readouterr().err


def test_config_check_reports_missing_file_and_bad_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "none.toml"), "config", "check"]) == 2
    assert "見つかりません" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("[http\n", encoding="utf-8")
    assert main(["--config", str(broken), "config", "check"]) == 2
    assert "書式" in capsys.readouterr().err


def test_config_check_ok_hides_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DXBOT_RELAY_SECRET", "super-secret-value")
    monkeypatch.setenv("DXBOT_DATABASE_URL", "postgresql+asyncpg://dx:pa55word@db/dxbot")
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert "問題はありません" in out and "有効" in out
    assert "pa55word" not in out and "super-secret-value" not in out
