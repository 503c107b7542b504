"""The package's entry points: parse_text, load_file and ParseResult."""

from __future__ import annotations

import time
from pathlib import Path

from shipline.config import (
    DEFAULT_FILENAME,
    Diagnostic,
    Mark,
    ParseResult,
    Severity,
    load_file,
    parse_text,
)
from shipline.config.yamltree import MAX_FILE_BYTES

MINIMAL = "pipelines:\n  default:\n    - step:\n        script: [make]\n"


def test_parse_text_ok_result() -> None:
    result = parse_text(MINIMAL)
    assert result.ok
    assert result.errors == ()
    assert result.diagnostics == ()
    assert result.file is not None
    assert result.file.path == DEFAULT_FILENAME
    assert result.file.pipelines.default is not None


def test_filename_appears_in_the_model_and_every_diagnostic() -> None:
    result = parse_text("pipelines:\n  default: {}\n", "ci/custom.yml")
    assert result.file is not None
    assert result.file.path == "ci/custom.yml"
    assert [d.file for d in result.diagnostics] == ["ci/custom.yml"]
    assert result.diagnostics[0].format().startswith("ci/custom.yml:2:12: error: ")


def test_warnings_do_not_make_a_result_fail() -> None:
    result = parse_text(MINIMAL + "triggers: {}\n")
    assert result.ok
    assert result.errors == ()
    assert [d.severity for d in result.diagnostics] == [Severity.WARNING]


def test_errors_property_and_ok_with_a_model_present() -> None:
    result = parse_text(MINIMAL.replace("make", "") + "  branches: 7\n")
    assert result.file is not None  # the model is still built where possible
    assert not result.ok
    assert all(d.severity is Severity.ERROR for d in result.errors)
    assert len(result.errors) == 2


def test_result_without_a_file_is_never_ok() -> None:
    assert not ParseResult(None, ()).ok
    warning = Diagnostic("f", Mark(1, 1), "", Severity.WARNING, "w")
    assert not ParseResult(None, (warning,)).ok


def test_diagnostics_come_back_sorted_by_position() -> None:
    text = """\
pipelines:
  default:
    - step:
        scrpt: [a]
        script: [make]
        size: 3x
    - step:
        script: [make]
        runtime: {}
  branches:
    main:
      - stepp: {}
"""
    result = parse_text(text)
    marks = [d.mark for d in result.diagnostics]
    assert marks == sorted(marks)
    assert [(d.mark.line, d.severity) for d in result.diagnostics] == [
        (4, Severity.ERROR),
        (6, Severity.ERROR),
        (9, Severity.WARNING),
        (12, Severity.ERROR),
    ]


def test_to_json_of_a_real_diagnostic() -> None:
    result = parse_text("pipelines:\n  default:\n    - step:\n        scrpt: [a]\n")
    assert [d.to_json() for d in result.diagnostics] == [
        {
            "file": DEFAULT_FILENAME,
            "line": 4,
            "column": 9,
            "path": "pipelines.default[0].step.scrpt",
            "severity": "error",
            "message": "unknown key 'scrpt' in a step",
            "hint": "did you mean 'script'?",
        },
        # A mapping's position is its first key, so the step itself is also at 4:9.
        {
            "file": DEFAULT_FILENAME,
            "line": 4,
            "column": 9,
            "path": "pipelines.default[0].step",
            "severity": "error",
            "message": "a step needs a 'script'",
            "hint": "add 'script:' with commands",
        },
    ]


def test_oversized_text_is_refused() -> None:
    result = parse_text(MINIMAL + "# " + "x" * MAX_FILE_BYTES + "\n")
    assert result.file is None
    [diag] = result.diagnostics
    assert diag.mark == Mark(1, 1)
    assert "refuses pipeline files over 1,000,000" in diag.message


# ---- load_file ------------------------------------------------------------------------------


def test_load_file_reads_and_uses_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_FILENAME
    path.write_text(MINIMAL)
    result = load_file(path)
    assert result.ok
    assert result.file is not None
    assert result.file.path == DEFAULT_FILENAME


def test_load_file_display_name_is_used_in_diagnostics(tmp_path: Path) -> None:
    path = tmp_path / "x.yml"
    path.write_text("pipelines: {}\n")
    result = load_file(path, "repo/bitbucket-pipelines.yml")
    assert [d.file for d in result.diagnostics] == ["repo/bitbucket-pipelines.yml"]


def test_load_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "nope" / DEFAULT_FILENAME
    result = load_file(path)
    assert result.file is None
    [diag] = result.diagnostics
    assert diag.severity is Severity.ERROR
    assert diag.mark == Mark(1, 1)
    assert diag.message == f"{path} not found"
    assert diag.hint == f"create {DEFAULT_FILENAME} at the root of the repository"


def test_load_file_oversized_is_refused_without_reading(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_FILENAME
    size = MAX_FILE_BYTES + 1
    path.write_bytes(b"#" * size)
    started = time.perf_counter()
    result = load_file(path)
    assert time.perf_counter() - started < 1
    assert result.file is None
    [diag] = result.diagnostics
    assert diag.message == (
        "file is 1,000,001 bytes; Shipline refuses pipeline files over 1,000,000"
    )


def test_load_file_exactly_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_FILENAME
    padding = MAX_FILE_BYTES - len(MINIMAL) - 1
    path.write_text(MINIMAL + "#" * padding + "\n")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert load_file(path).ok


def test_load_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_FILENAME
    path.write_bytes(MINIMAL.encode() + b"# caf\xe9\n")
    result = load_file(path)
    assert result.file is None
    [diag] = result.diagnostics
    assert diag.severity is Severity.ERROR
    assert diag.message == "the file is not UTF-8 text: invalid continuation byte"


def test_load_file_directory_is_an_error_not_a_crash(tmp_path: Path) -> None:
    result = load_file(tmp_path)
    assert result.file is None
    [diag] = result.diagnostics
    assert diag.message.startswith(f"cannot read {tmp_path}: ")


def test_load_file_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / DEFAULT_FILENAME
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_file(path).ok


def test_the_bundled_example_parses_cleanly() -> None:
    example = Path(__file__).parents[2] / "examples" / "webshop" / DEFAULT_FILENAME
    result = load_file(example)
    assert result.diagnostics == ()
    assert result.file is not None
    pipelines = result.file.pipelines
    assert pipelines.default is not None
    assert len(pipelines.default.items) == 4
    assert [v.name for v in pipelines.custom["release"].variables] == ["ENVIRONMENT", "VERSION"]
    assert result.file.caches["wheels"].key_files == ("requirements.txt",)


def test_windows_line_endings_and_bom_keep_positions() -> None:
    body = "pipelines:\n  default:\n    - step:\n        scrpt: [x]\n        script: [make]\n"
    for text in (body.replace("\n", "\r\n"), "\ufeff" + body):
        [diag] = parse_text(text).diagnostics
        assert (diag.mark, diag.message) == (Mark(4, 9), "unknown key 'scrpt' in a step")
