"""config: read a pipeline file into a typed model plus diagnostics (never raises on bad input)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipline.config.bitbucket.model import PipelineFile
from shipline.config.bitbucket.parser import BitbucketParser
from shipline.config.diagnostics import Diagnostic, DiagnosticSink, Mark, Severity
from shipline.config.yamltree import MAX_FILE_BYTES, load_tree

DEFAULT_FILENAME = "bitbucket-pipelines.yml"

__all__ = [
    "DEFAULT_FILENAME",
    "Diagnostic",
    "Mark",
    "ParseResult",
    "PipelineFile",
    "Severity",
    "load_file",
    "parse_text",
]


@dataclass(frozen=True)
class ParseResult:
    file: PipelineFile | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return self.file is not None and not any(
            d.severity is Severity.ERROR for d in self.diagnostics
        )

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)


def parse_text(text: str, filename: str = DEFAULT_FILENAME) -> ParseResult:
    """Parse the text of a bitbucket-pipelines.yml; problems come back as diagnostics."""
    sink = DiagnosticSink(filename)
    root = load_tree(text, sink)
    pipeline_file = None
    if root is not None:
        pipeline_file = BitbucketParser(sink).parse_file(root, filename)
    return ParseResult(pipeline_file, tuple(sink.sorted()))


def load_file(path: Path, display_name: str | None = None) -> ParseResult:
    """Read and parse a pipeline file from disk, refusing oversized or undecodable files."""
    name = display_name or path.name
    sink = DiagnosticSink(name)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            sink.error(
                Mark(1, 1),
                "",
                f"file is {size:,} bytes; Shipline refuses pipeline files over {MAX_FILE_BYTES:,}",
            )
            return ParseResult(None, tuple(sink.items))
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        sink.error(
            Mark(1, 1),
            "",
            f"{path} not found",
            f"create {DEFAULT_FILENAME} at the root of the repository",
        )
        return ParseResult(None, tuple(sink.items))
    except UnicodeDecodeError as exc:
        sink.error(Mark(1, 1), "", f"the file is not UTF-8 text: {exc.reason}")
        return ParseResult(None, tuple(sink.items))
    except OSError as exc:
        sink.error(Mark(1, 1), "", f"cannot read {path}: {exc.strerror}")
        return ParseResult(None, tuple(sink.items))
    return parse_text(text, name)
