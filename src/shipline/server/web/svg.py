"""Server-rendered SVG charts for the web UI: a line chart (e.g. pipeline durations by build
number), a bar chart (e.g. a DORA metric week by week) and the weekly DORA reports behind
such charts. No JavaScript, no chart library.

The chart functions are pure and return SVG markup as a `str`, ready to be marked safe in a
Jinja2 template (`{{ chart | safe }}`): every piece of text that goes in — the title, the y
label, each point's tooltip, link and CSS class, and whatever `x_format`/`y_format` return —
is XML-escaped here with `html.escape` (and characters XML cannot hold are replaced by
U+FFFD), since labels come from users: branch names, commit messages. Links are kept only
when they are relative or http(s); a `javascript:` link is dropped, not escaped.

The markup

- scales with CSS: it has a `viewBox` and no width or height, and static/charts.css gives
  `svg.chart` `width: 100%`;
- is styled by classes only: `chart-title`, `chart-label` (axis text), `chart-grid`,
  `chart-axis`, `chart-line` (the polyline), `chart-dot` and `chart-bar` (plus the point's
  `css`, e.g. "passed" or "failed"), `chart-empty` (the "No data yet" text);
- is accessible: `role="img"`, an `aria-label` and a `<title>` naming the chart, a `<desc>`
  summarising its values, and a `<title>` tooltip on every dot and bar;
- is deterministic: the same input gives the same string, coordinates rounded to 0.1.

The y axis always includes 0 and ends on a round tick; ticks are multiples of a "nice" step,
1, 2 or 5 × 10^k (for durations: 1, 2, 5, 10, 15, 30 s or min, 1, 2, 3, 6, 12 h, then
1, 2, 5 × 10^k days). A point whose y is None is a gap: no dot or bar, and the line breaks
there. Empty input, or only gaps, draws the "No data yet" state. Points must be finite.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from shipline.server.dora import DeploymentFact, DoraError, DoraReport, dora_report

NO_DATA = "No data yet"

_T = TypeVar("_T")

# Tick steps for durations in seconds; beyond a day, 1, 2, 5 × 10^k days.
DURATION_STEPS: tuple[float, ...] = (
    *(1.0, 2.0, 5.0, 10.0, 15.0, 30.0),
    *(60.0, 120.0, 300.0, 600.0, 900.0, 1800.0),
    *(3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0),
)

# Geometry in viewBox units.
_LEFT = 72.0  # the rotated y label and the y tick labels
_RIGHT = 16.0
_TOP = 32.0  # the chart's title
_BOTTOM = 28.0  # the x tick labels
_INSET = 8.0  # keeps the first and last dots off the axes
_MIN_WIDTH = 200
_MIN_HEIGHT = 120
_GRID_SPACING = 28.0  # about one y tick per this many units of height
_LABEL_SPACING = 64.0  # at most one x label per this many units of width
_DOT_RADIUS = "3.5"
_BAR_FILL = 0.7  # share of its slot a bar takes
_BAR_MAX = 48.0

_WEEK = dt.timedelta(days=7)
_SAFE_SCHEMES = frozenset({"", "http", "https"})
# Everything outside XML 1.0's Char production.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DURATION_UNITS = (("d", 86_400.0), ("h", 3_600.0), ("min", 60.0))


@dataclass(frozen=True)
class Point:
    x: float  # e.g. a pipeline's build number, or a POSIX timestamp
    y: float | None  # None: a gap (e.g. no data that week)
    label: str = ""  # tooltip (<title>) text; empty: "x_format(x): y_format(y)"
    href: str | None = None  # optional link (e.g. to the pipeline page)
    css: str = ""  # optional class, e.g. "passed"/"failed" to colour a dot or bar


# --- Labels -----------------------------------------------------------------------------------


def number_label(value: float) -> str:
    """Whole numbers as integers ("12"), others with up to 6 significant digits ("0.25")."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def duration_label(seconds: float) -> str:
    """A duration for people: "45 s", "3 min", "1.25 h", "2 d" (two decimals at most, none
    from 10 on)."""
    if not math.isfinite(seconds):
        raise ValueError(f"not a duration: {seconds}")
    size = abs(float(seconds))
    for unit, length in _DURATION_UNITS:
        if round(size / length, 2) >= 1:
            text = f"{_short(size / length)} {unit}"
            break
    else:
        text = f"{_short(size)} s"
    return f"-{text}" if seconds < 0 and not text.startswith("0 ") else text


def day_label(timestamp: float) -> str:
    """A POSIX timestamp's UTC day, e.g. "4 Mar" (an `x_format` for weekly charts)."""
    day = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return f"{day.day} {day:%b}"


def _short(value: float) -> str:
    if value >= 1e6:
        return f"{value:.3g}"
    if round(value, 2) >= 10:
        return f"{value:.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


# --- Ticks ------------------------------------------------------------------------------------


def nice_ticks(
    low: float,
    high: float,
    *,
    target: int = 5,
    steps: Sequence[float] | None = None,
    integer: bool = False,
) -> list[float]:
    """Round tick values covering [low, high]: consecutive multiples of one step, the first at
    or below `low`, the last at or above `high`, about `target` intervals between them.

    The step is the smallest "nice" one at least (high − low) / target: 1, 2 or 5 × 10^k, or
    one of `steps` (increasing; below the first and above the last, that one × 1, 2, 5 × 10^k).
    `integer`: never a step below 1. When low and high are (nearly) equal there is one tick,
    their middle; should the multiples overflow, the ticks are just [low, high].
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"tick range must be finite, got [{low}, {high}]")
    low, high = sorted((float(low), float(high)))
    half = high / 2 - low / 2  # halves: high − low itself may overflow
    if half < 1e-200 or half <= max(abs(low), abs(high)) * 1e-12:
        return [min(max(low / 2 + high / 2, low), high)]
    step = _nice_step(half / max(1, target) * 2, steps)
    if integer:
        step = max(step, 1.0)
    if not math.isfinite(step):
        return [low, high]
    first, last = math.floor(low / step), math.ceil(high / step)
    digits = max(0, 1 - math.floor(math.log10(step)))
    ticks = [round(k * step, digits) for k in range(first, last + 1)]
    if not all(math.isfinite(t) for t in ticks):
        return [low, high]
    return list(dict.fromkeys(ticks))


def _nice_step(raw: float, steps: Sequence[float] | None) -> float:
    if not steps:
        return _decimal_step(raw)
    if raw < steps[0]:
        return steps[0] * _decimal_step(raw / steps[0])
    for step in steps:
        if step >= raw:
            return step
    return steps[-1] * _decimal_step(raw / steps[-1])


def _decimal_step(raw: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is at least `raw` (> 0)."""
    base = 10.0 ** math.floor(math.log10(raw))
    for mantissa in (1.0, 2.0, 5.0):
        if mantissa * base >= raw * (1 - 1e-9):
            return mantissa * base
    return 10.0 * base


# --- Charts -----------------------------------------------------------------------------------


def line_chart(
    points: Sequence[Point],
    *,
    width: int = 720,
    height: int = 200,
    title: str,
    y_label: str,
    y_format: Callable[[float], str] = number_label,
    x_format: Callable[[float], str] = number_label,
    y_steps: Sequence[float] | None = None,
    x_ticks: Sequence[float] | None = None,
) -> str:
    """Points placed by x (sorted), joined by a polyline that breaks at gaps, a dot each.

    x ticks: nice round values within the points' x range (whole numbers when every x is),
    or `x_ticks` when given (e.g. week starts), thinned to fit. `y_steps`: see
    `nice_ticks`; by default DURATION_STEPS when `y_format` is `duration_label`.
    """
    frame = _Frame.of(width, height)
    ordered = sorted(_checked(points), key=lambda point: point.x)
    values = [point.y for point in ordered if point.y is not None]
    if not values:
        return _empty(frame, title)
    y_ticks, y_scale = _y_axis(frame, values, y_steps, y_format)

    low_x, high_x = ordered[0].x, ordered[-1].x
    x_scale = _Scale(low_x, high_x, frame.left + _INSET, frame.right - _INSET)
    if x_ticks is None:
        integral = all(float(point.x).is_integer() for point in ordered)
        target = max(2, int((frame.right - frame.left) // 90))
        candidates = nice_ticks(low_x, high_x, target=target, integer=integral)
    else:
        candidates = sorted(float(x) for x in x_ticks if math.isfinite(x))
    inside = [x for x in candidates if low_x <= x <= high_x]
    labels = [(x_scale(x), x_format(x)) for x in _thin(inside, frame)]

    parts = _header(frame, title, y_label, _summary(y_label, ordered, y_format))
    parts += _axes(frame, y_ticks, y_scale, y_format, labels)
    runs: list[list[str]] = [[]]
    for point in ordered:
        if point.y is None:
            runs.append([])
        else:
            runs[-1].append(f"{_c(x_scale(point.x))},{_c(y_scale(point.y))}")
    parts += [
        f'<polyline class="chart-line" fill="none" points="{" ".join(run)}"/>'
        for run in runs
        if len(run) > 1
    ]
    for point in ordered:
        if point.y is None:
            continue
        dot = (
            f'<circle class="{_classes("chart-dot", point.css)}" cx="{_c(x_scale(point.x))}"'
            f' cy="{_c(y_scale(point.y))}" r="{_DOT_RADIUS}">'
            f"<title>{_tooltip(point, x_format, y_format)}</title></circle>"
        )
        parts.append(_linked(dot, point.href))
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(
    points: Sequence[Point],
    *,
    width: int = 720,
    height: int = 200,
    title: str,
    y_label: str,
    y_format: Callable[[float], str] = number_label,
    x_format: Callable[[float], str] = number_label,
    y_steps: Sequence[float] | None = None,
) -> str:
    """One bar per point, in the order given, in equal slots labelled `x_format(x)` (thinned
    to fit, always keeping the last); a gap leaves its slot empty. Bars grow from 0, so
    negative values hang below the baseline. `y_steps`: as for `line_chart`."""
    frame = _Frame.of(width, height)
    checked = _checked(points)
    values = [point.y for point in checked if point.y is not None]
    if not values:
        return _empty(frame, title)
    y_ticks, y_scale = _y_axis(frame, values, y_steps, y_format)

    slot = (frame.right - frame.left) / len(checked)
    bar = min(slot * _BAR_FILL, _BAR_MAX)

    def centre(index: int) -> float:
        return frame.left + slot * (index + 0.5)

    shown = _thin(list(range(len(checked))), frame)
    labels = [(centre(i), x_format(checked[i].x)) for i in shown]

    parts = _header(frame, title, y_label, _summary(y_label, checked, y_format))
    parts += _axes(frame, y_ticks, y_scale, y_format, labels)
    base = y_scale(0.0)
    for index, point in enumerate(checked):
        if point.y is None:
            continue
        top = y_scale(point.y)
        rect = (
            f'<rect class="{_classes("chart-bar", point.css)}" x="{_c(centre(index) - bar / 2)}"'
            f' y="{_c(min(top, base))}" width="{_c(bar)}" height="{_c(abs(base - top))}">'
            f"<title>{_tooltip(point, x_format, y_format)}</title></rect>"
        )
        parts.append(_linked(rect, point.href))
    parts.append("</svg>")
    return "\n".join(parts)


# --- Weekly DORA ------------------------------------------------------------------------------


def weekly_dora(
    deployments: Sequence[DeploymentFact],
    *,
    environment: str,
    weeks: int,
    now: dt.datetime,
) -> list[tuple[dt.datetime, DoraReport]]:
    """(Monday 00:00 UTC, that week's `dora_report`) for the last `weeks` weeks, oldest first.

    Each window is [Monday, next Monday); the last is the week `now` is in, cut at `now`, so
    its deployment frequency is per day elapsed so far. When `now` is exactly Monday 00:00,
    the week just begun is empty and the last window is the week that just ended.
    """
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise DoraError(f"now must be timezone-aware, got {now.isoformat()}")
    end = now.astimezone(dt.UTC)
    last_instant = end - dt.timedelta(microseconds=1)
    monday = last_instant.date() - dt.timedelta(days=last_instant.weekday())
    current = dt.datetime.combine(monday, dt.time(), tzinfo=dt.UTC)
    history = tuple(deployments)
    reports: list[tuple[dt.datetime, DoraReport]] = []
    for back in range(weeks - 1, -1, -1):
        since = current - back * _WEEK
        until = min(since + _WEEK, end)
        report = dora_report(history, environment=environment, since=since, until=until)
        reports.append((since, report))
    return reports


# --- Pieces -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """The chart's viewBox and, inside it, the plot area's edges."""

    width: int
    height: int

    @classmethod
    def of(cls, width: int, height: int) -> _Frame:
        if width < _MIN_WIDTH or height < _MIN_HEIGHT:
            raise ValueError(
                f"a chart needs at least {_MIN_WIDTH}×{_MIN_HEIGHT}, got {width}×{height}"
            )
        return cls(int(width), int(height))

    @property
    def left(self) -> float:
        return _LEFT

    @property
    def right(self) -> float:
        return self.width - _RIGHT

    @property
    def top(self) -> float:
        return _TOP

    @property
    def bottom(self) -> float:
        return self.height - _BOTTOM


@dataclass(frozen=True)
class _Scale:
    """Maps [low, high] linearly onto [start, end]; a single value onto the middle."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.high / 2 - self.low / 2  # halves: high − low itself may overflow
        fraction = (value / 2 - self.low / 2) / span if span > 0 else 0.5
        fraction = min(1.0, max(0.0, fraction))
        return self.start + fraction * (self.end - self.start)


def _checked(points: Sequence[Point]) -> list[Point]:
    for index, point in enumerate(points):
        if not math.isfinite(point.x) or (point.y is not None and not math.isfinite(point.y)):
            raise ValueError(f"point {index}: x and y must be finite, got ({point.x}, {point.y})")
    return list(points)


def _y_axis(
    frame: _Frame,
    values: Sequence[float],
    steps: Sequence[float] | None,
    y_format: Callable[[float], str],
) -> tuple[list[float], _Scale]:
    if steps is None and y_format is duration_label:
        steps = DURATION_STEPS
    target = max(2, round((frame.bottom - frame.top) / _GRID_SPACING))
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values), target=target, steps=steps)
    if len(ticks) < 2:  # every value is 0 (or all but)
        ticks = nice_ticks(0.0, 1.0, target=target, steps=steps)
    return ticks, _Scale(ticks[0], ticks[-1], frame.bottom, frame.top)


def _thin(items: Sequence[_T], frame: _Frame) -> list[_T]:
    """At most as many items as labels fit across the plot, evenly, keeping the last."""
    room = max(1, int((frame.right - frame.left) // _LABEL_SPACING))
    stride = max(1, math.ceil(len(items) / room))
    return [items[i] for i in range(len(items) - 1, -1, -stride)][::-1]


def _header(frame: _Frame, title: str, y_label: str, desc: str) -> list[str]:
    middle = _c((frame.top + frame.bottom) / 2)
    return [
        *_opening(frame, title, desc),
        f'<text class="chart-label chart-y-label" transform="translate(12 {middle}) rotate(-90)"'
        f' text-anchor="middle">{_text(y_label)}</text>',
    ]


def _opening(frame: _Frame, title: str, desc: str) -> list[str]:
    name = _text(title)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart"'
        f' viewBox="0 0 {frame.width} {frame.height}" role="img" aria-label="{name}">',
        f"<title>{name}</title>",
        f"<desc>{_text(desc)}</desc>",
        f'<text class="chart-title" x="4" y="18">{name}</text>',
    ]


def _axes(
    frame: _Frame,
    y_ticks: Sequence[float],
    y_scale: _Scale,
    y_format: Callable[[float], str],
    x_labels: Sequence[tuple[float, str]],
) -> list[str]:
    left, right, bottom = _c(frame.left), _c(frame.right), _c(frame.bottom)
    parts = ['<g class="chart-grid">']
    parts += [
        f'<line x1="{left}" y1="{_c(y_scale(t))}" x2="{right}" y2="{_c(y_scale(t))}"/>'
        for t in y_ticks
    ]
    parts += ["</g>", '<g class="chart-axis">']
    parts.append(f'<line x1="{left}" y1="{_c(frame.top)}" x2="{left}" y2="{bottom}"/>')
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>')
    below = _c(frame.bottom + 4)
    parts += [f'<line x1="{_c(x)}" y1="{bottom}" x2="{_c(x)}" y2="{below}"/>' for x, _ in x_labels]
    parts += ["</g>", '<g class="chart-label chart-y-ticks" text-anchor="end">']
    parts += [
        f'<text x="{_c(frame.left - 6)}" y="{_c(y_scale(t))}" dy="0.32em">'
        f"{_text(y_format(t))}</text>"
        for t in y_ticks
    ]
    parts += ["</g>", '<g class="chart-label chart-x-ticks" text-anchor="middle">']
    parts += [
        f'<text x="{_c(x)}" y="{_c(frame.bottom + 16)}">{_text(text)}</text>'
        for x, text in x_labels
    ]
    parts.append("</g>")
    return parts


def _empty(frame: _Frame, title: str) -> str:
    left, right, bottom = _c(frame.left), _c(frame.right), _c(frame.bottom)
    return "\n".join(
        [
            *_opening(frame, title, NO_DATA),
            f'<g class="chart-axis"><line x1="{left}" y1="{bottom}" x2="{right}"'
            f' y2="{bottom}"/></g>',
            f'<text class="chart-label chart-empty" x="{_c((frame.left + frame.right) / 2)}"'
            f' y="{_c((frame.top + frame.bottom) / 2)}" text-anchor="middle">{NO_DATA}</text>',
            "</svg>",
        ]
    )


def _summary(y_label: str, points: Sequence[Point], y_format: Callable[[float], str]) -> str:
    values = [point.y for point in points if point.y is not None]
    text = (
        f"{y_label}: {len(values)} values from {y_format(min(values))} to"
        f" {y_format(max(values))}, the last {y_format(values[-1])}"
    )
    gaps = len(points) - len(values)
    return f"{text}; {gaps} without data" if gaps else text


def _tooltip(
    point: Point, x_format: Callable[[float], str], y_format: Callable[[float], str]
) -> str:
    if point.label:
        return _text(point.label)
    assert point.y is not None
    return _text(f"{x_format(point.x)}: {y_format(point.y)}")


def _linked(element: str, href: str | None) -> str:
    if href is None:
        return element
    target = href.strip()
    try:
        scheme = urlsplit(target).scheme.lower()
    except ValueError:  # e.g. an unbalanced "[" in the host
        return element
    if scheme not in _SAFE_SCHEMES:
        return element
    return f'<a href="{_text(target)}">{element}</a>'


def _classes(base: str, extra: str) -> str:
    return _text(f"{base} {extra.strip()}" if extra.strip() else base)


def _text(value: str) -> str:
    """`value` safe as XML text or attribute value."""
    return html.escape(_NOT_XML.sub("\ufffd", value), quote=True)


def _c(value: float) -> str:
    """A coordinate rounded to 0.1, without a trailing ".0"."""
    rounded = round(value, 1)
    if rounded == 0:
        return "0"
    text = f"{rounded:.1f}"
    return text[:-2] if text.endswith(".0") else text
