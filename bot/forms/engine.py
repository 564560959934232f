"""The conversational form engine: ask, validate, go back, skip, confirm, summarise, submit.

Every input is applied to the person's saved ``FormSession`` inside the handling
transaction, together with the reply, so a restart resumes at exactly the same step.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.app import Next
from bot.context import Context
from bot.events import EventType
from bot.forms import store
from bot.forms.answers import InvalidAnswer
from bot.forms.definition import FormDefinition, Step
from bot.forms.lookup import closest
from bot.forms.prompts import ACTION, SUMMARY, Prompts
from bot.forms.values import parse, parse_choice_value
from bot.text import fold, normalize
from storage.forms import FormSession

SubmitHook = Callable[[Context, FormSession], Awaitable[None]]
SourceHook = Callable[[Context], Awaitable[list[str]]]
CheckHook = Callable[[Context, FormSession], Awaitable["Interjection | None"]]
CheckChoiceHook = Callable[[Context, FormSession, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Interjection:
    """Something to settle before submitting (e.g. similar issues), with its buttons."""

    text: str
    choices: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class _Check:
    ask: CheckHook
    on_choice: CheckChoiceHook


class FormEngine:
    """Runs forms for people in direct chats; features hook in submit, sources and checks."""

    def __init__(self, forms: dict[str, FormDefinition]) -> None:
        self.forms = forms
        self._submit_hooks: dict[str, SubmitHook] = {}
        self._sources: dict[str, SourceHook] = {}
        self._checks: dict[str, _Check] = {}

    # -- hooks -------------------------------------------------------------------------

    def on_submit(self, form: str) -> Callable[[SubmitHook], SubmitHook]:
        def decorator(hook: SubmitHook) -> SubmitHook:
            self._submit_hooks[form] = hook
            return hook

        return decorator

    def source(self, name: str) -> Callable[[SourceHook], SourceHook]:
        """Names a ``lookup`` step matches against (e.g. the section list)."""

        def decorator(hook: SourceHook) -> SourceHook:
            self._sources[name] = hook
            return hook

        return decorator

    def before_submit(self, form: str, ask: CheckHook, on_choice: CheckChoiceHook) -> None:
        """``ask`` may interject before submitting; ``on_choice`` gets the button pressed and
        returns True when it settled the form itself (e.g. recorded support instead)."""
        self._checks[form] = _Check(ask, on_choice)

    # -- entry points ------------------------------------------------------------------

    async def start(self, ctx: Context, form_name: str) -> None:
        """Start ``form_name`` for the sender, or remind them of the one they are in."""
        prompts = Prompts(ctx)
        current = await store.active_session(ctx.session, ctx.event.adapter, ctx.event.user.id)
        if current is not None:
            await ctx.say(ctx.t("forms.already_running"))
            await prompts.ask(self.forms[current.form], current)
            return
        form = self.forms[form_name]
        first = form.next_step(None, {})
        assert first is not None
        now = ctx.app.clock.now()
        row = FormSession(
            adapter=ctx.event.adapter,
            user_id=ctx.event.user.id,
            conversation_id=ctx.event.conversation.id,
            form=form_name,
            status=store.ACTIVE,
            step=first.id,
            answers={},
            progress={"trail": [], "pending": None, "editing": False, "unlisted": []},
            locale=ctx.locale,
            started_at=now,
            updated_at=now,
        )
        ctx.session.add(row)
        await ctx.say(prompts.intro(form))
        await prompts.ask(form, row)

    async def resume(self, ctx: Context, draft_id: int | None = None) -> bool:
        """Make an expired draft active again and ask where it stopped."""
        if await store.active_session(ctx.session, ctx.event.adapter, ctx.event.user.id):
            return False
        found = await store.drafts(ctx.session, ctx.event.adapter, ctx.event.user.id)
        chosen = next((d for d in found if draft_id in (None, d.id)), None)
        if chosen is None:
            return False
        chosen.status = store.ACTIVE
        chosen.conversation_id = ctx.event.conversation.id
        chosen.nudged_at = None
        _set(chosen, pending=None)  # a question left open is asked again, not half-answered
        _touch(ctx, chosen)
        await ctx.say(ctx.t("forms.resumed"))
        await Prompts(ctx).ask(self.forms[chosen.form], chosen)
        return True

    async def middleware(self, ctx: Context, next: Next) -> None:
        """Messages and form buttons in a direct chat go to the running form first.

        Text typed while a form runs is an answer, even when it happens to match a button
        offered by something else in between (e.g. the help menu's "1").
        """
        if ctx.event.type == EventType.ACTION and ctx.event.action_id != ACTION:
            typed = ctx.event.as_typed()
            if typed is not ctx.event and await store.active_session(
                ctx.session, typed.adapter, typed.user.id
            ):
                ctx.event = typed
        event = ctx.event
        takes = event.is_direct and (
            event.type == EventType.MESSAGE
            or (event.type == EventType.ACTION and event.action_id == ACTION)
        )
        row = (
            await store.active_session(ctx.session, event.adapter, event.user.id) if takes else None
        )
        if row is None or row.form not in self.forms:
            await next()
            return
        await self.handle(ctx, row)

    # -- one input ---------------------------------------------------------------------

    async def handle(self, ctx: Context, row: FormSession) -> None:
        form = self.forms[row.form]
        ctx.locale = row.locale or ctx.locale
        kind, arg = _input(ctx)
        _touch(ctx, row)
        pending = row.progress.get("pending")
        if pending is not None:
            await self._settle_pending(ctx, form, row, pending, kind, arg)
            return
        control = self._control(ctx, kind, arg)
        if control == "keep" and (row.step == SUMMARY or row.step not in row.answers):
            control = None  # nothing to keep: 「そのまま」 is the answer itself
        if control is not None:
            await self._control_step(ctx, form, row, control)
        elif row.step == SUMMARY:
            await self._at_summary(ctx, form, row, kind, arg)
        else:
            await self._answer(ctx, form, row, kind, arg)

    def _control(self, ctx: Context, kind: str, arg: str) -> str | None:
        if kind == "control":
            return arg
        if kind != "text":
            return None
        word = fold(arg)
        for name in ("back", "skip", "cancel", "restart", "help", "keep"):
            if word in {fold(w) for w in ctx.app.catalog.words(f"forms.words.{name}")}:
                return name
        return None

    async def _control_step(
        self, ctx: Context, form: FormDefinition, row: FormSession, control: str
    ) -> None:
        prompts = Prompts(ctx)
        if control == "help":
            await prompts.help(form, row)
        elif control == "cancel":
            _set(row, pending={"kind": "cancel"})
            await prompts.confirm_cancel()
        elif control == "restart":
            first = form.next_step(None, {})
            assert first is not None
            row.answers = {}
            _set(row, trail=[], editing=False, unlisted=[])
            row.step = first.id
            await ctx.say(ctx.t("forms.restarted"))
            await prompts.ask(form, row)
        elif control == "back":
            await self._back(ctx, form, row)
        elif control == "skip":
            await self._skip(ctx, form, row)
        elif control == "keep":
            await self._accept(ctx, form, row, form.step(row.step), row.answers[row.step])

    async def _back(self, ctx: Context, form: FormDefinition, row: FormSession) -> None:
        trail = list(row.progress.get("trail", []))
        if not trail:
            await ctx.say(ctx.t("forms.cannot_go_back"))
        else:
            row.step = trail.pop()
            _set(row, trail=trail, editing=False)
        await Prompts(ctx).ask(form, row)

    async def _skip(self, ctx: Context, form: FormDefinition, row: FormSession) -> None:
        if row.step == SUMMARY or not form.step(row.step).optional:
            await ctx.say(ctx.t("forms.cannot_skip"))
            await Prompts(ctx).ask(form, row)
            return
        await self._accept(ctx, form, row, form.step(row.step), None)

    async def _answer(
        self, ctx: Context, form: FormDefinition, row: FormSession, kind: str, arg: str
    ) -> None:
        step = form.step(row.step)
        try:
            if kind == "answer":
                value = parse_choice_value(step, arg)
            elif kind == "text":
                value = parse(
                    step, arg, catalog=ctx.app.catalog, locale=ctx.locale, today=ctx.today()
                )
            else:
                raise InvalidAnswer("stale_button")
        except InvalidAnswer as invalid:
            await Prompts(ctx).reask(form, row, invalid)
            return
        if step.type == "lookup":
            await self._lookup(ctx, form, row, step, value)
            return
        await self._accept(ctx, form, row, step, value)

    async def _lookup(
        self, ctx: Context, form: FormDefinition, row: FormSession, step: Step, typed: str
    ) -> None:
        names = await self._sources[step.source or ""](ctx) if step.source in self._sources else []
        exact = {fold(n): n for n in names}.get(fold(typed))
        if exact is not None:
            await self._accept(ctx, form, row, step, exact)
            return
        candidate = closest(typed, names)
        _set(row, pending={"kind": "lookup", "typed": typed, "candidate": candidate})
        await Prompts(ctx).confirm_lookup(typed, candidate)

    async def _accept(
        self, ctx: Context, form: FormDefinition, row: FormSession, step: Step, value: Any
    ) -> None:
        """Store an answer and move on: to the next step, or back to the summary."""
        answers = {**row.answers, step.id: value}
        answers = {s.id: answers[s.id] for s in form.visible_steps(answers) if s.id in answers}
        row.answers = answers
        trail = [*row.progress.get("trail", []), step.id]
        _set(row, trail=trail)
        following = self._next_unanswered(form, row) if row.progress.get("editing") else None
        if row.progress.get("editing") and following is None:
            row.step = SUMMARY
        else:
            upcoming = following or form.next_step(step.id, answers)
            row.step = upcoming.id if upcoming is not None else SUMMARY
        await Prompts(ctx).ask(form, row)

    def _next_unanswered(self, form: FormDefinition, row: FormSession) -> Step | None:
        return next((s for s in form.visible_steps(row.answers) if s.id not in row.answers), None)

    async def _at_summary(
        self, ctx: Context, form: FormDefinition, row: FormSession, kind: str, arg: str
    ) -> None:
        prompts = Prompts(ctx)
        if kind == "submit" or (kind == "text" and _is_word(ctx, arg, "submit")):
            await self._submit_or_check(ctx, form, row)
            return
        if kind == "edit_menu" or (kind == "text" and _is_word(ctx, arg, "edit")):
            await prompts.edit_menu(form, row)
            return
        number = int(arg) if kind == "edit" and arg.isdigit() else _edit_number(ctx, arg)
        visible = form.visible_steps(row.answers)
        if number is not None and 1 <= number <= len(visible):
            row.step = visible[number - 1].id
            _set(row, editing=True)
            await prompts.ask(form, row)
            return
        await ctx.say(ctx.t("forms.summary_hint", count=len(visible)))
        await prompts.summary(form, row)

    async def _submit_or_check(self, ctx: Context, form: FormDefinition, row: FormSession) -> None:
        check = self._checks.get(form.name)
        if check is not None and not row.progress.get("checked"):
            interjection = await check.ask(ctx, row)
            if interjection is not None:
                _set(row, pending={"kind": "check"}, checked=True)
                await Prompts(ctx).interject(interjection)
                return
        await self._submit(ctx, row)

    async def _submit(self, ctx: Context, row: FormSession) -> None:
        await self._submit_hooks[row.form](ctx, row)
        self.finish(ctx, row, store.SUBMITTED)

    def finish(self, ctx: Context, row: FormSession, status: str) -> None:
        row.status = status
        row.finished_at = ctx.app.clock.now()
        _set(row, pending=None)

    async def _settle_pending(
        self,
        ctx: Context,
        form: FormDefinition,
        row: FormSession,
        pending: dict[str, Any],
        kind: str,
        arg: str,
    ) -> None:
        prompts = Prompts(ctx)
        if pending["kind"] == "check":
            await self._settle_check(ctx, form, row, kind, arg)
            return
        answer = _yes_no(ctx, kind, arg)
        if answer is None:
            await ctx.say(ctx.t("forms.answer_yes_no"))
            await prompts.repeat_pending(pending)
            return
        _set(row, pending=None)
        if pending["kind"] == "cancel":
            if answer:
                self.finish(ctx, row, store.CANCELLED)
                await ctx.say(ctx.t("forms.cancelled"))
            else:
                await prompts.ask(form, row)
            return
        await self._settle_lookup(ctx, form, row, pending, answer)

    async def _settle_lookup(
        self,
        ctx: Context,
        form: FormDefinition,
        row: FormSession,
        pending: dict[str, Any],
        answer: bool,
    ) -> None:
        step = form.step(row.step)
        candidate, typed = pending.get("candidate"), pending["typed"]
        if answer and candidate:
            await self._accept(ctx, form, row, step, candidate)
        elif answer:
            unlisted = sorted({*row.progress.get("unlisted", []), step.id})
            _set(row, unlisted=unlisted)
            await self._accept(ctx, form, row, step, typed)
        elif candidate:
            # Not the suggestion: offer to keep exactly what was typed.
            _set(row, pending={"kind": "lookup", "typed": typed, "candidate": None})
            await Prompts(ctx).confirm_lookup(typed, None)
        else:
            await Prompts(ctx).ask(form, row)

    async def _settle_check(
        self, ctx: Context, form: FormDefinition, row: FormSession, kind: str, arg: str
    ) -> None:
        _set(row, pending=None)
        if kind == "check":
            settled = await self._checks[form.name].on_choice(ctx, row, arg)
            if settled:
                self.finish(ctx, row, store.SUBMITTED)
            else:
                await self._submit(ctx, row)
            return
        row.step = SUMMARY
        await Prompts(ctx).summary(form, row)


def _input(ctx: Context) -> tuple[str, str]:
    """(kind, argument): ("text", what was typed) or a button's ("answer", "weekly") …"""
    event = ctx.event
    if event.type == EventType.ACTION:
        kind, _, arg = event.value.partition(":")
        return kind, arg
    return "text", normalize(event.text) if "\n" not in event.text else event.text.strip()


def _is_word(ctx: Context, text: str, name: str) -> bool:
    return fold(text) in {fold(w) for w in ctx.app.catalog.words(f"forms.words.{name}")}


def _yes_no(ctx: Context, kind: str, arg: str) -> bool | None:
    if kind == "confirm":
        return arg == "yes"
    if kind == "text" and _is_word(ctx, arg, "yes"):
        return True
    if kind == "text" and _is_word(ctx, arg, "no"):
        return False
    return None


def _edit_number(ctx: Context, text: str) -> int | None:
    folded = normalize(text)
    for pattern in ctx.app.catalog.words("forms.patterns.edit"):
        found = re.fullmatch(pattern, folded, flags=re.IGNORECASE)
        if found:
            digits = next(g for g in found.groups() if g)
            return int(digits)
    return None


def _set(row: FormSession, **changes: Any) -> None:
    # JSON columns are compared by value: assign a new dict so the change is saved.
    row.progress = {**row.progress, **changes}


def _touch(ctx: Context, row: FormSession) -> None:
    row.updated_at = ctx.app.clock.now()
