"""Charts of a repository: how long its pipelines take, and the DORA keys week by week."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import select

from shipline.server.api.deployments import deployment_facts
from shipline.server.dora import dora_report
from shipline.server.lookups import find_repository
from shipline.server.state import StateDep
from shipline.server.web.queries import PIPELINES
from shipline.server.web.render import page, seconds_between
from shipline.server.web.session import WebUser
from shipline.server.web.svg import (
    Point,
    bar_chart,
    day_label,
    duration_label,
    line_chart,
    number_label,
    weekly_dora,
)
from shipline.store.models import Environment

router = APIRouter(include_in_schema=False)
WEEKS = 12


@router.get("/r/{repo}/charts", response_class=HTMLResponse)
def charts(request: Request, repo: str, state: StateDep, caller: WebUser) -> HTMLResponse:
    now = dt.datetime.now(dt.UTC)
    with state.db.session() as session:
        repo_row = find_repository(session, repo)
        recent = session.execute(
            select(PIPELINES)
            .where(PIPELINES.c.repository_id == repo_row.id, PIPELINES.c.finished_at.is_not(None))
            .order_by(PIPELINES.c.build_number.desc())
            .limit(60)
        ).all()
        production = session.scalar(
            select(Environment)
            .where(Environment.repository_id == repo_row.id, Environment.kind == "production")
            .order_by(Environment.position)
            .limit(1)
        )
        facts = deployment_facts(session, production) if production else []
    points = [
        Point(
            p.build_number,
            seconds_between(p.started_at, p.finished_at),
            f"#{p.build_number} {p.status}",
            f"/r/{repo}/p/{p.build_number}",
            "passed" if p.status == "passed" else "failed" if p.status == "failed" else "",
        )
        for p in reversed(recent)
    ]
    durations = Markup(
        line_chart(points, title="Pipeline duration", y_label="duration", y_format=duration_label)
    )
    dora_charts: list[Markup] = []
    totals = None
    if production is not None:
        weekly = weekly_dora(facts, environment=production.name, weeks=WEEKS, now=now)
        x = [start.timestamp() for start, _ in weekly]
        rows = [r for _, r in weekly]
        series: list[tuple[str, list[float | None], Callable[[float], str]]] = [
            ("Deployments a day", [r.deployment_frequency_per_day for r in rows], number_label),
            ("Lead time for changes", [r.lead_time_median_seconds for r in rows], duration_label),
            ("Change failure rate", [r.change_failure_rate for r in rows], number_label),
            ("Time to restore", [r.time_to_restore_median_seconds for r in rows], duration_label),
        ]
        for title, values, fmt in series:
            pts = [Point(t, v, f"week of {day_label(t)}") for t, v in zip(x, values, strict=True)]
            draw = bar_chart if title == "Deployments a day" else line_chart
            chart = draw(pts, title=title, y_label=title.lower(), x_format=day_label, y_format=fmt)
            dora_charts.append(Markup(chart))
        totals = dora_report(
            facts, environment=production.name, since=now - dt.timedelta(days=30), until=now
        )
    return page(
        request,
        "charts.html",
        caller,
        repo=repo,
        tab="charts",
        durations=durations,
        dora_charts=dora_charts,
        totals=totals,
        environment=production.name if production else None,
    )
