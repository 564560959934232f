"""What the form engine says: questions, re-asks, confirmations and the summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.context import Context
from bot.forms.answers import InvalidAnswer
from bot.forms.definition import FormDefinition, Step, pick
from bot.forms.values import display
from bot.messages import Choice
from storage.forms import FormSession

if TYPE_CHECKING:
    from bot.forms.engine import Interjection

ACTION = "form"
SUMMARY = "__summary__"


def _button(label: str, kind: str, arg: str = "") -> Choice:
    return Choice(label, ACTION, f"{kind}:{arg}")


class Prompts:
    """Builds and says the engine's messages in the person's language."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.t = ctx.t

    def intro(self, form: FormDefinition) -> str:
        title = pick(form.title, self.ctx.locale)
        return "\n".join([self.t("forms.intro", title=title), self.t("forms.controls")])

    async def ask(self, form: FormDefinition, row: FormSession) -> None:
        if row.step == SUMMARY:
            await self.summary(form, row)
            return
        text, choices = self._question(form, row)
        await self.ctx.say(text, choices=choices)

    async def reask(self, form: FormDefinition, row: FormSession, invalid: InvalidAnswer) -> None:
        text, choices = self._question(form, row)
        reason = self.t(invalid.key, **invalid.values)
        await self.ctx.say(f"{reason}\n{text}", choices=choices)

    def _question(self, form: FormDefinition, row: FormSession) -> tuple[str, list[Choice]]:
        step = form.step(row.step)
        visible = form.visible_steps(row.answers | {step.id: row.answers.get(step.id)})
        position = next(i for i, s in enumerate(visible, 1) if s.id == step.id)
        lines = [f"({position}/{len(visible)}) {pick(step.prompt, self.ctx.locale)}"]
        if step.type == "multi_choice":
            lines += [f"{i}. {o.label}" for i, o in enumerate(step.options_for(self.ctx.locale), 1)]
            lines.append(self.t("forms.multi_hint"))
        if step.optional:
            lines.append(self.t("forms.optional_hint"))
        if step.id in row.answers:
            lines.append(self.t("forms.current_answer", value=self._display(step, row)))
        return "\n".join(lines), self._choices(step)

    def _choices(self, step: Step) -> list[Choice]:
        if step.type == "choice":
            return [_button(o.label, "answer", o.value) for o in step.options_for(self.ctx.locale)]
        if step.type == "yes_no":
            return [
                _button(self.t("forms.yes"), "answer", "yes"),
                _button(self.t("forms.no"), "answer", "no"),
            ]
        return []

    def _display(self, step: Step, row: FormSession) -> str:
        return display(
            step, row.answers.get(step.id), catalog=self.ctx.app.catalog, locale=self.ctx.locale
        )

    async def help(self, form: FormDefinition, row: FormSession) -> None:
        if row.step == SUMMARY:
            text = self.t("forms.summary_help")
        else:
            step = form.step(row.step)
            text = pick(step.help, self.ctx.locale) if step.help else self.t("forms.no_step_help")
        await self.ctx.say("\n".join([text, self.t("forms.controls")]))
        await self.ask(form, row)

    async def confirm_cancel(self) -> None:
        await self.ctx.say(
            self.t("forms.confirm_cancel"),
            choices=[
                _button(self.t("forms.cancel_yes"), "confirm", "yes"),
                _button(self.t("forms.cancel_no"), "confirm", "no"),
            ],
        )

    async def confirm_lookup(self, typed: str, candidate: str | None) -> None:
        key = "forms.lookup_suggest" if candidate else "forms.lookup_unlisted"
        await self.ctx.say(
            self.t(key, typed=typed, candidate=candidate or ""),
            choices=[
                _button(self.t("forms.yes"), "confirm", "yes"),
                _button(self.t("forms.no"), "confirm", "no"),
            ],
        )

    async def repeat_pending(self, pending: dict[str, Any]) -> None:
        if pending["kind"] == "cancel":
            await self.confirm_cancel()
        elif pending["kind"] == "lookup":
            await self.confirm_lookup(pending["typed"], pending.get("candidate"))

    async def summary(self, form: FormDefinition, row: FormSession) -> None:
        lines = [self.t("forms.summary_title", title=pick(form.title, self.ctx.locale)), ""]
        for number, step in enumerate(form.visible_steps(row.answers), start=1):
            label = pick(step.label, self.ctx.locale)
            lines.append(f"{number}. {label}: {self._display(step, row)}")
        lines += ["", self.t("forms.summary_footer")]
        await self.ctx.say(
            "\n".join(lines),
            choices=[
                _button(self.t("forms.submit_button"), "submit"),
                _button(self.t("forms.edit_button"), "edit_menu"),
                _button(self.t("forms.cancel_button"), "control", "cancel"),
            ],
        )

    async def edit_menu(self, form: FormDefinition, row: FormSession) -> None:
        steps = form.visible_steps(row.answers)
        await self.ctx.say(
            self.t("forms.edit_which"),
            choices=[
                _button(f"{n}. {pick(s.label, self.ctx.locale)}", "edit", str(n))
                for n, s in enumerate(steps, start=1)
            ],
        )

    async def interject(self, interjection: Interjection) -> None:
        await self.ctx.say(
            interjection.text,
            choices=[_button(label, "check", payload) for label, payload in interjection.choices],
        )
