"""Form files: the shipped issue_report is valid; mistakes are named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.forms.definition import FORMS_DIR, FormDefinitionError, load_forms, parse_form, pick

STEP = {"id": "a", "type": "text", "prompt": "質問"}


def test_shipped_issue_report_has_the_municipal_questions() -> None:
    form = load_forms()["issue_report"]
    assert [s.id for s in form.steps] == [
        "section",
        "work",
        "problem",
        "ideal",
        "frequency",
        "minutes",
        "staff",
        "ideas",
        "contact",
    ]
    assert [s.id for s in form.steps if s.optional] == ["ideas"]
    frequency = form.step("frequency")
    assert [o.label["ja"] for o in frequency.options] == ["毎日", "毎週", "毎月", "年に数回"]


def test_conditional_step_is_shown_only_when_its_answer_matches() -> None:
    form = parse_form(
        {
            "name": "f",
            "steps": [
                {"id": "paper", "type": "yes_no", "prompt": "紙ですか"},
                {
                    "id": "pages",
                    "type": "number",
                    "prompt": "何枚",
                    "when": {"step": "paper", "equals": True},
                },
                {"id": "end", "type": "text", "prompt": "最後"},
            ],
        }
    )
    assert [s.id for s in form.visible_steps({"paper": True})] == ["paper", "pages", "end"]
    assert [s.id for s in form.visible_steps({"paper": False})] == ["paper", "end"]
    assert form.next_step("paper", {"paper": False}).id == "end"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"id": "a", "type": "colour", "prompt": "x"}], "type must be one of"),
        ([{"id": "a", "type": "choice", "prompt": "x"}], "needs options"),
        ([{"id": "a", "type": "lookup", "prompt": "x"}], "needs a source"),
        ([{"id": "a", "type": "number", "prompt": "x", "unit": "kg"}], "unit must be"),
        ([{"id": "a", "type": "text"}], "'prompt' is missing"),
        ([STEP, STEP], "step ids repeat"),
        ([{**STEP, "when": {"step": "zzz", "equals": 1}}], "not an earlier step"),
        ([], "at least one step"),
    ],
)
def test_mistakes_name_the_file_step_and_key(steps: list[dict], message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(FormDefinitionError, match=message) as caught:
        parse_form({"name": "broken", "steps": steps}, "broken.toml")
    assert "broken.toml" in str(caught.value)


def test_config_check_reports_a_broken_form_of_the_town_with_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.toml").write_text('name = "bad"\n[[steps]]\nid = "a"\n', encoding="utf-8")
    monkeypatch.setenv("DXBOT_FORMS_DIRECTORY", str(tmp_path))
    assert main(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert f"フォーム定義に誤りがあります: {tmp_path / 'bad.toml'} step 1 (a):" in err


def test_a_town_form_replaces_the_packaged_one_of_its_name_and_the_others_stay(
    tmp_path: Path,
) -> None:
    packaged = (FORMS_DIR / "issue_report.toml").read_text(encoding="utf-8")
    edited = packaged.replace("困っている業務の名前を教えてください", "業務の名前は?")
    (tmp_path / "issue_report.toml").write_text(edited, encoding="utf-8")
    (tmp_path / "survey.toml").write_text(
        'name = "survey"\n[[steps]]\nid = "a"\ntype = "text"\nprompt = "どうですか?"\n',
        encoding="utf-8",
    )
    forms = load_forms(site=tmp_path)
    assert set(forms) == {*load_forms(), "survey"}
    assert pick(forms["issue_report"].step("work").prompt, "ja").startswith("業務の名前は?")
    assert pick(load_forms()["issue_report"].step("work").prompt, "ja").startswith("困っている")
