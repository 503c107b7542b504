"""SVG charts: exact small charts, escaping, links, gaps, the empty state, nice ticks,
weekly DORA buckets on a scripted history, and properties over arbitrary finite input."""

from __future__ import annotations

import datetime as dt
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipline.server.dora import CommitFact, DeploymentFact, DoraError
from shipline.server.web.svg import (
    DURATION_STEPS,
    NO_DATA,
    Point,
    bar_chart,
    day_label,
    duration_label,
    line_chart,
    nice_ticks,
    number_label,
    weekly_dora,
)

SVG = "{http://www.w3.org/2000/svg}"
UTC = dt.UTC
MONDAY = dt.datetime(2024, 3, 4, tzinfo=UTC)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def every(root: ET.Element, tag: str) -> list[ET.Element]:
    return list(root.iter(f"{SVG}{tag}"))


def group_texts(root: ET.Element, css: str) -> list[str]:
    (group,) = (g for g in every(root, "g") if css in g.get("class", "").split())
    return [text.text or "" for text in every(group, "text")]


def classes(element: ET.Element) -> list[str]:
    return element.get("class", "").split()


THREE = [Point(1, 10), Point(2, 30), Point(3, 20)]


# --- The line chart ---------------------------------------------------------------------------


def test_three_point_line_chart() -> None:
    svg = line_chart(THREE, title="Pipeline duration", y_label="seconds")
    root = parse(svg)
    assert root.get("viewBox") == "0 0 720 200"
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Pipeline duration"
    assert root.get("width") is None  # scales with CSS
    assert root.find(f"{SVG}title").text == "Pipeline duration"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == (  # type: ignore[union-attr]
        "seconds: 3 values from 10 to 30, the last 20"
    )

    dots = every(root, "circle")
    assert len(dots) == 3
    # Plot: x 72..704 with the dots inset by 8 (80..696); y 172 (value 0) up to 32 (value 30).
    assert [(d.get("cx"), d.get("cy")) for d in dots] == [
        ("80", "125.3"),
        ("388", "32"),
        ("696", "78.7"),
    ]
    assert all(classes(d) == ["chart-dot"] for d in dots)
    assert [d.find(f"{SVG}title").text for d in dots] == ["1: 10", "2: 30", "3: 20"]  # type: ignore[union-attr]
    (line,) = every(root, "polyline")
    assert line.get("class") == "chart-line"
    assert line.get("points") == "80,125.3 388,32 696,78.7"

    assert group_texts(root, "chart-y-ticks") == ["0", "10", "20", "30"]
    assert group_texts(root, "chart-x-ticks") == ["1", "2", "3"]
    grid = next(g for g in every(root, "g") if "chart-grid" in classes(g))
    assert [line.get("y1") for line in every(grid, "line")] == ["172", "125.3", "78.7", "32"]
    assert '<text class="chart-title" x="4" y="18">Pipeline duration</text>' in svg
    assert '<text class="chart-label chart-y-label"' in svg
    assert ">seconds</text>" in svg


def test_output_is_deterministic_and_rounded() -> None:
    points = [Point(x / 3, x * 1.2345678, label=f"#{x}") for x in range(7)]
    first = line_chart(points, title="t", y_label="y")
    assert first == line_chart(list(points), title="t", y_label="y")
    for dot in every(parse(first), "circle"):
        for coordinate in (dot.get("cx", ""), dot.get("cy", "")):
            assert len(coordinate.partition(".")[2]) <= 1


def test_points_are_ordered_by_x() -> None:
    shuffled = [THREE[2], THREE[0], THREE[1]]
    assert line_chart(shuffled, title="t", y_label="y") == line_chart(THREE, title="t", y_label="y")


def test_hostile_text_is_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    svg = line_chart(
        [
            Point(1, 5, label=f"feature/{hostile}", href='/p?a=1&b="2"', css='x" onload="y'),
            Point(2, 6),
        ],
        title=f"Branch {hostile}",
        y_label="it's <b>",
        y_format=lambda v: f"<i>{v}</i>",
        x_format=lambda v: f"{v}&",
    )
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "<i>" not in svg
    assert "<b>" not in svg
    assert 'onload="' not in svg
    root = parse(svg)
    assert root.get("aria-label") == f"Branch {hostile}"
    (link,) = every(root, "a")
    assert link.get("href") == '/p?a=1&b="2"'
    (first, _) = every(root, "circle")
    assert first.find(f"{SVG}title").text == f"feature/{hostile}"  # type: ignore[union-attr]
    assert group_texts(root, "chart-x-ticks")[0] == "1.0&"


def test_characters_xml_cannot_hold_are_replaced() -> None:
    svg = bar_chart([Point(1, 1, label="a\x00b\x1bc")], title="t\x0c", y_label="y")
    root = parse(svg)
    (bar,) = every(root, "rect")
    assert bar.find(f"{SVG}title").text == "a\ufffdb\ufffdc"  # type: ignore[union-attr]


def test_links_wrap_dots_and_bars() -> None:
    points = [
        Point(1, 10, href="/repos/web/pipelines/1", css="passed"),
        Point(2, 20, href="https://ci.example/p/2", css="failed"),
        Point(3, 30),
        Point(4, 40, href="javascript:alert(1)"),
        Point(5, 50, href=" JaVa\tscript:alert(1)"),
    ]
    for chart in (line_chart, bar_chart):
        root = parse(chart(points, title="t", y_label="y"))
        links = every(root, "a")
        assert [a.get("href") for a in links] == [
            "/repos/web/pipelines/1",
            "https://ci.example/p/2",
        ]
        assert [classes(next(iter(a))) for a in links] == [
            ["chart-dot" if chart is line_chart else "chart-bar", css]
            for css in ("passed", "failed")
        ]
        assert len(every(root, "circle" if chart is line_chart else "rect")) == 5
    assert "javascript" not in line_chart(points, title="t", y_label="y").lower()


def test_gaps_split_the_line() -> None:
    points = [
        Point(1, 10),
        Point(2, 20),
        Point(3, None),
        Point(4, 30),
        Point(5, 40),
        Point(6, None),
        Point(7, 50),  # alone between a gap and the end: a dot, no line
    ]
    root = parse(line_chart(points, title="t", y_label="y"))
    assert len(every(root, "circle")) == 5
    lines = every(root, "polyline")
    assert [len(line.get("points", "").split()) for line in lines] == [2, 2]
    assert root.find(f"{SVG}desc").text.endswith("; 2 without data")  # type: ignore[union-attr]


@pytest.mark.parametrize("chart", [line_chart, bar_chart])
@pytest.mark.parametrize("points", [[], [Point(1, None), Point(2, None)]])
def test_no_data(chart: Callable[..., str], points: list[Point]) -> None:
    svg = chart(points, title="Lead time", y_label="hours")
    root = parse(svg)
    assert root.get("aria-label") == "Lead time"
    assert NO_DATA == "No data yet"
    (empty,) = (t for t in every(root, "text") if "chart-empty" in classes(t))
    assert empty.text == "No data yet"
    for tag in ("circle", "rect", "polyline"):
        assert not every(root, tag)


def test_all_zero_values_still_get_an_axis() -> None:
    root = parse(line_chart([Point(1, 0), Point(2, 0)], title="t", y_label="y"))
    assert group_texts(root, "chart-y-ticks") == ["0", "0.2", "0.4", "0.6", "0.8", "1"]
    assert {d.get("cy") for d in every(root, "circle")} == {"172"}


def test_a_single_point_sits_in_the_middle() -> None:
    root = parse(line_chart([Point(1_700_000_000, 3)], title="t", y_label="y"))
    (dot,) = every(root, "circle")
    assert dot.get("cx") == "388"
    assert group_texts(root, "chart-x-ticks") == ["1700000000"]
    assert not every(root, "polyline")


def test_negative_values_extend_the_axis_below_zero() -> None:
    root = parse(bar_chart([Point(1, -3.7), Point(2, 12.1)], title="t", y_label="y"))
    assert group_texts(root, "chart-y-ticks") == ["-5", "0", "5", "10", "15"]
    low, high = every(root, "rect")
    # 0 is at 172 - 140 * 5/20 = 137; the negative bar hangs from it.
    assert low.get("y") == "137"
    assert high.get("y") == str(round(137 - 140 * 12.1 / 20, 1))


def test_x_ticks_for_numbers_times_and_explicit() -> None:
    builds = [Point(n, n % 7) for n in range(1, 201)]
    assert group_texts(parse(line_chart(builds, title="t", y_label="y")), "chart-x-ticks") == [
        "50",
        "100",
        "150",
        "200",
    ]
    weeks = [(MONDAY + dt.timedelta(weeks=n)).timestamp() for n in range(4)]
    svg = line_chart(
        [Point(w, 1) for w in weeks],
        title="t",
        y_label="y",
        x_format=day_label,
        x_ticks=weeks,
    )
    assert group_texts(parse(svg), "chart-x-ticks") == ["4 Mar", "11 Mar", "18 Mar", "25 Mar"]


def test_durations_get_round_minute_ticks() -> None:
    points = [Point(1, 12), Point(2, 97)]
    root = parse(line_chart(points, title="t", y_label="duration", y_format=duration_label))
    assert group_texts(root, "chart-y-ticks") == ["0 s", "30 s", "1 min", "1.5 min", "2 min"]
    (_, last) = every(root, "circle")
    assert last.find(f"{SVG}title").text == "2: 1.62 min"  # type: ignore[union-attr]


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        line_chart([Point(1, float("nan"))], title="t", y_label="y")
    with pytest.raises(ValueError, match="finite"):
        bar_chart([Point(float("inf"), 1)], title="t", y_label="y")
    with pytest.raises(ValueError, match="at least"):
        line_chart(THREE, width=50, title="t", y_label="y")


# --- The bar chart ----------------------------------------------------------------------------


def test_bar_chart() -> None:
    points = [
        Point(1, 10, css="passed", label="#1 main"),
        Point(2, None),
        Point(3, 30, css="failed"),
        Point(4, 0),
    ]
    root = parse(bar_chart(points, width=400, height=160, title="Deploys", y_label="count"))
    assert root.get("viewBox") == "0 0 400 160"
    bars = every(root, "rect")
    assert [classes(b) for b in bars] == [
        ["chart-bar", "passed"],
        ["chart-bar", "failed"],
        ["chart-bar"],
    ]
    # Plot: x 72..384 in 4 slots of 78, bars 48 wide centred; y 132 (0) up to 32 (30).
    assert [(b.get("x"), b.get("y"), b.get("width"), b.get("height")) for b in bars] == [
        ("87", "98.7", "48", "33.3"),
        ("243", "32", "48", "100"),
        ("321", "132", "48", "0"),
    ]
    assert [b.find(f"{SVG}title").text for b in bars] == ["#1 main", "3: 30", "4: 0"]  # type: ignore[union-attr]
    assert group_texts(root, "chart-x-ticks") == ["1", "2", "3", "4"]


def test_bar_labels_are_thinned_keeping_the_last() -> None:
    points = [Point(n, n) for n in range(100)]
    labels = group_texts(parse(bar_chart(points, title="t", y_label="y")), "chart-x-ticks")
    assert len(labels) <= 10
    assert labels[-1] == "99"
    assert len(every(parse(bar_chart(points, title="t", y_label="y")), "rect")) == 100


# --- Ticks and labels -------------------------------------------------------------------------


def test_nice_ticks() -> None:
    assert nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1]
    assert nice_ticks(0, 0.3) == [0, 0.1, 0.2, 0.3]
    assert nice_ticks(97, 0) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(-3.7, 12.1) == [-5, 0, 5, 10, 15]
    assert nice_ticks(1200, 4800, target=3) == [0, 2000, 4000, 6000]
    assert nice_ticks(1, 3) == [1, 1.5, 2, 2.5, 3]
    assert nice_ticks(1, 3, integer=True) == [1, 2, 3]
    assert nice_ticks(0, 97, steps=DURATION_STEPS) == [0, 30, 60, 90, 120]
    assert nice_ticks(0, 4000, steps=DURATION_STEPS) == [0, 900, 1800, 2700, 3600, 4500]
    assert nice_ticks(0, 10 * 86400, steps=DURATION_STEPS) == [
        d * 86400 for d in (0, 2, 4, 6, 8, 10)
    ]
    assert nice_ticks(0, 0.5, steps=DURATION_STEPS) == [0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert nice_ticks(5, 5) == [5]
    assert nice_ticks(-1.7e308, 1.7e308) == [-1.7e308, 1.7e308]  # the multiples would overflow
    with pytest.raises(ValueError, match="finite"):
        nice_ticks(0, float("inf"))


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (0, "0 s"),
        (0.25, "0.25 s"),
        (45, "45 s"),
        (59.999, "1 min"),
        (90, "1.5 min"),
        (180, "3 min"),
        (754, "13 min"),
        (5400, "1.5 h"),
        (4500, "1.25 h"),
        (3 * 86400, "3 d"),
        (400 * 86400, "400 d"),
        (-30, "-30 s"),
        (-0.001, "0 s"),
    ],
)
def test_duration_label(seconds: float, label: str) -> None:
    assert duration_label(seconds) == label


def test_number_and_day_labels() -> None:
    assert [number_label(v) for v in (3, 3.0, -0.0, 0.25, 0.1 + 0.2, 1e20)] == [
        "3",
        "3",
        "0",
        "0.25",
        "0.3",
        "1e+20",
    ]
    assert day_label(MONDAY.timestamp()) == "4 Mar"


# --- Weekly DORA ------------------------------------------------------------------------------


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return MONDAY + dt.timedelta(days=day, hours=hour, minutes=minute)


def deploy(
    id: int,
    start: dt.datetime,
    end: dt.datetime,
    status: str = "passed",
    *,
    env: str = "production",
    delivered: tuple[CommitFact, ...] = (),
) -> DeploymentFact:
    return DeploymentFact(id, env, f"sha{id}", start, end, status, "deploy", delivered)


HISTORY = [
    # Week of 26 Feb: one deployment, its commit an hour before (lead time 1 h 10 min).
    deploy(1, at(-6, 10), at(-6, 10, 10), delivered=(CommitFact("a", at(-6, 9)),)),
    # Week of 4 Mar: a failure at 10:05, fixed by 11:05; the fix's commit is 3 h older.
    deploy(2, at(1, 10), at(1, 10, 5), "failed"),
    deploy(3, at(1, 11), at(1, 11, 5), delivered=(CommitFact("b", at(1, 8, 5)),)),
    deploy(4, at(1, 12), at(1, 12, 5), "cancelled"),
    # Week of 11 Mar, up to now (Wednesday noon): one; staging and the future do not count.
    deploy(5, at(8, 9), at(8, 9, 30)),
    deploy(6, at(8, 10), at(8, 10, 30), env="staging"),
    deploy(7, at(10, 9), at(10, 9, 30)),
]


def test_weekly_dora_buckets_and_values() -> None:
    now = at(9, 12)  # Wednesday 13 March, 12:00 UTC
    weekly = weekly_dora(HISTORY, environment="production", weeks=3, now=now)
    assert [start for start, _ in weekly] == [at(-7, 0), MONDAY, at(7, 0)]
    assert all(start.weekday() == 0 and start.tzinfo == UTC for start, _ in weekly)
    assert [(r.since, r.until) for _, r in weekly] == [
        (at(-7, 0), MONDAY),
        (MONDAY, at(7, 0)),
        (at(7, 0), now),  # the week in progress ends now
    ]
    first, second, third = (report for _, report in weekly)
    assert {r.environment for r in (first, second, third)} == {"production"}

    assert first.deployments == 1
    assert first.deployment_frequency_per_day == pytest.approx(1 / 7)
    assert first.lead_time_median_seconds == 70 * 60
    assert first.change_failure_rate == 0
    assert first.time_to_restore_median_seconds is None

    assert second.deployments == 1
    assert second.change_failure_rate == 0.5
    assert (second.failed_changes, second.restores) == (1, 1)
    assert second.time_to_restore_median_seconds == 3600
    assert second.lead_time_median_seconds == 3 * 3600

    assert third.deployments == 1
    assert third.deployment_frequency_per_day == pytest.approx(1 / 2.5)
    assert third.lead_time_median_seconds is None
    assert third.change_failure_rate == 0


def test_weekly_dora_with_no_deployments() -> None:
    weekly = weekly_dora([], environment="production", weeks=2, now=at(3, 0))
    assert [(r.deployments, r.change_failure_rate) for _, r in weekly] == [(0, None), (0, None)]


def test_weekly_dora_on_a_monday_midnight_ends_with_the_week_just_over() -> None:
    weekly = weekly_dora(HISTORY, environment="production", weeks=2, now=at(7, 0))
    assert [(r.since, r.until) for _, r in weekly] == [(at(-7, 0), MONDAY), (MONDAY, at(7, 0))]


def test_weekly_dora_buckets_are_utc_weeks() -> None:
    # Monday 01:00 at UTC+2 is still Sunday in UTC: the week of 4 March.
    now = dt.datetime(2024, 3, 11, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    ((start, report),) = weekly_dora(HISTORY, environment="production", weeks=1, now=now)
    assert start == MONDAY
    assert report.until == at(6, 23)
    assert report.until.tzinfo == UTC


def test_weekly_dora_refuses_bad_arguments() -> None:
    with pytest.raises(DoraError, match="timezone-aware"):
        weekly_dora(HISTORY, environment="production", weeks=1, now=dt.datetime(2024, 3, 4))
    with pytest.raises(ValueError, match="at least 1"):
        weekly_dora(HISTORY, environment="production", weeks=0, now=at(2, 0))


def test_weekly_reports_chart_as_bars() -> None:
    weekly = weekly_dora(HISTORY, environment="production", weeks=3, now=at(9, 12))
    points = [
        Point(start.timestamp(), report.lead_time_median_seconds, label=f"week of {start:%d %b}")
        for start, report in weekly
    ]
    root = parse(
        bar_chart(
            points, title="Lead time", y_label="median", y_format=duration_label, x_format=day_label
        )
    )
    assert len(every(root, "rect")) == 2  # the week in progress has no lead time yet
    assert group_texts(root, "chart-x-ticks") == ["26 Feb", "4 Mar", "11 Mar"]
    assert group_texts(root, "chart-y-ticks") == ["0 s", "1 h", "2 h", "3 h"]


# --- Properties -------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
points_strategy = st.lists(
    st.builds(
        Point,
        x=finite,
        y=st.none() | finite,
        label=st.text(max_size=20),
        href=st.none() | st.text(max_size=20),
        css=st.text(max_size=8),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(
    points=points_strategy,
    title=st.text(max_size=30),
    y_label=st.text(max_size=30),
    width=st.integers(200, 2000),
    height=st.integers(120, 800),
    bars=st.booleans(),
)
def test_any_finite_input_gives_well_formed_svg(
    points: list[Point], title: str, y_label: str, width: int, height: int, bars: bool
) -> None:
    chart = bar_chart if bars else line_chart
    svg = chart(points, width=width, height=height, title=title, y_label=y_label)
    assert svg == chart(points, width=width, height=height, title=title, y_label=y_label)
    root = parse(svg)
    assert root.get("viewBox") == f"0 0 {width} {height}"
    values = sum(point.y is not None for point in points)
    marks = every(root, "rect" if bars else "circle")
    assert len(marks) == values
    if not values:
        assert NO_DATA in svg
    for mark in marks:
        if bars:
            x, y = float(mark.get("x", "")), float(mark.get("y", ""))
            w, h = float(mark.get("width", "")), float(mark.get("height", ""))
            assert 0 <= x < x + w <= width + 0.1
            assert 0 <= y <= y + h <= height + 0.1
        else:
            assert 0 <= float(mark.get("cx", "")) <= width
            assert 0 <= float(mark.get("cy", "")) <= height


@settings(max_examples=300, deadline=None)
@given(low=finite, high=finite, target=st.integers(1, 12))
def test_nice_ticks_cover_the_range_with_one_round_step(
    low: float, high: float, target: int
) -> None:
    ticks = nice_ticks(low, high, target=target)
    assert ticks == sorted(set(ticks))
    low, high = min(low, high), max(low, high)
    if len(ticks) == 1:  # (nearly) equal ends
        assert low <= ticks[0] <= high
        return
    assert len(ticks) <= target + 3
    if ticks == [low, high]:  # the multiples would overflow
        return
    step = ticks[1] - ticks[0]
    assert ticks[0] <= low + step * 1e-9
    assert ticks[-1] >= high - step * 1e-9
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 5)
