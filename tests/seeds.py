"""Seeded issues for tests and benchmarks: realistic municipal data, written directly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.reports import annual_hours
from storage import issue_queries as queries
from storage.issues import Issue

# The answers to the report form's nine questions, as a staff member types them (市民課,
# 住民票の交付; no ideas; contact allowed), for tests that walk the whole conversation.
REPORT_ANSWERS = [
    "市民課",
    "住民票の交付",
    "紙の申請書をExcelに手入力で転記している",
    "申請内容が最初からデータで届き、転記が不要になる",
    "毎日",
    "30分",
    "3人",
    "スキップ",
    "はい",
]

PROBLEMS = [
    ("申請書の転記", "紙の申請書をExcelに手入力で転記している"),
    ("窓口予約", "窓口予約を電話で受けていて一日中電話対応に追われる"),
    ("会議資料", "会議資料を印刷配布していて差し替えのたびに刷り直す"),
    ("旅費精算", "出張旅費の精算に押印が3つ必要"),
    ("庁内問い合わせ", "庁内の問い合わせがグループウェアのチャットとLoGoチャットに分散している"),
]


async def add_issue(
    session: AsyncSession,
    *,
    at: datetime,
    reporter: str = "S1",
    section: str = "市民課",
    group: str | None = None,
    status: str = "received",
    title: str | None = None,
    problem: str | None = None,
    frequency: str = "daily",
    minutes: int = 30,
    staff: int = 3,
    adapter: str = "relay",
    **extra: Any,
) -> Issue:
    fy = queries.fiscal_year(at.date())
    seq = await queries.next_seq(session, fy)
    default_title, default_problem = PROBLEMS[seq % len(PROBLEMS)]
    answers = {
        "section": section,
        "work": title or default_title,
        "problem": problem or default_problem,
        "ideal": "手作業をなくしたい",
        "frequency": frequency,
        "minutes": minutes,
        "staff": staff,
        "ideas": None,
        "contact": True,
    }
    issue = Issue(
        number=queries.issue_number(fy, seq),
        fiscal_year=fy,
        seq=seq,
        title=answers["work"],
        section=section,
        section_known=True,
        status=status,
        working_group=group,
        reporter_adapter=adapter,
        reporter_id=reporter,
        reporter_name=f"職員{reporter}",
        answers=answers,
        annual_hours=annual_hours(frequency, minutes, staff),
        contact_ok=True,
        support_count=0,
        created_at=at,
        updated_at=at,
        **extra,
    )
    session.add(issue)
    await session.flush()
    await queries.index_text(session, issue.id, f"{answers['work']} {answers['problem']}")
    return issue
