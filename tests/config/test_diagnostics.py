"""Diagnostic rendering, JSON form and ordering."""

from __future__ import annotations

from shipline.config.diagnostics import Diagnostic, DiagnosticSink, Mark, Severity


def test_mark_orders_by_line_then_column() -> None:
    marks = [Mark(3, 1), Mark(1, 9), Mark(1, 2), Mark(2, 5)]
    assert sorted(marks) == [Mark(1, 2), Mark(1, 9), Mark(2, 5), Mark(3, 1)]


def test_format_with_path_and_hint() -> None:
    diag = Diagnostic(
        "ci.yml", Mark(4, 9), "pipelines.default[0].step.scrpt", Severity.ERROR,
        "unknown key 'scrpt' in a step", "did you mean 'script'?",
    )  # fmt: skip
    assert diag.format() == (
        "ci.yml:4:9: error: unknown key 'scrpt' in a step (at pipelines.default[0].step.scrpt)\n"
        "  hint: did you mean 'script'?"
    )


def test_format_without_path_or_hint_is_one_line() -> None:
    diag = Diagnostic("f.yml", Mark(1, 1), "", Severity.WARNING, "something odd")
    assert diag.format() == "f.yml:1:1: warning: something odd"


def test_to_json_has_every_field_with_plain_types() -> None:
    diag = Diagnostic("f.yml", Mark(7, 3), "a.b", Severity.INFO, "note", "a hint")
    assert diag.to_json() == {
        "file": "f.yml",
        "line": 7,
        "column": 3,
        "path": "a.b",
        "severity": "info",
        "message": "note",
        "hint": "a hint",
    }


def test_sink_records_file_and_severity() -> None:
    sink = DiagnosticSink("x.yml")
    sink.warning(Mark(2, 1), "p", "w")
    assert not sink.has_errors
    sink.info(Mark(1, 1), "p", "i")
    sink.error(Mark(3, 1), "p", "e", "h")
    assert sink.has_errors
    assert [(d.file, d.severity, d.message, d.hint) for d in sink.items] == [
        ("x.yml", Severity.WARNING, "w", ""),
        ("x.yml", Severity.INFO, "i", ""),
        ("x.yml", Severity.ERROR, "e", "h"),
    ]


def test_sorted_by_position_errors_first_at_same_position_otherwise_stable() -> None:
    sink = DiagnosticSink("x.yml")
    sink.warning(Mark(5, 1), "", "late warning")
    sink.warning(Mark(2, 4), "", "first warning at 2:4")
    sink.info(Mark(2, 4), "", "info at 2:4")
    sink.error(Mark(2, 4), "", "error at 2:4")
    sink.error(Mark(1, 10), "", "earliest")
    assert [d.message for d in sink.sorted()] == [
        "earliest",
        "error at 2:4",
        "first warning at 2:4",
        "info at 2:4",
        "late warning",
    ]
    # sorted() returns a copy; the sink keeps discovery order.
    assert sink.items[0].message == "late warning"
