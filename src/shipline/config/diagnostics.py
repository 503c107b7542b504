"""Diagnostics: problems found in a pipeline file, collected rather than raised one at a time."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, order=True)
class Mark:
    """A 1-based line and column in the source file."""

    line: int
    column: int


@dataclass(frozen=True)
class Diagnostic:
    file: str
    mark: Mark
    path: str
    severity: Severity
    message: str
    hint: str = ""

    def format(self) -> str:
        """Render as `file:line:col: severity: message [at path]` plus an indented hint."""
        where = f" (at {self.path})" if self.path else ""
        text = (
            f"{self.file}:{self.mark.line}:{self.mark.column}: "
            f"{self.severity.value}: {self.message}{where}"
        )
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.mark.line,
            "column": self.mark.column,
            "path": self.path,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass
class DiagnosticSink:
    """Collects diagnostics for one file, in the order they were found."""

    file: str
    items: list[Diagnostic] = field(default_factory=list)

    def add(self, mark: Mark, path: str, severity: Severity, message: str, hint: str = "") -> None:
        self.items.append(Diagnostic(self.file, mark, path, severity, message, hint))

    def error(self, mark: Mark, path: str, message: str, hint: str = "") -> None:
        self.add(mark, path, Severity.ERROR, message, hint)

    def warning(self, mark: Mark, path: str, message: str, hint: str = "") -> None:
        self.add(mark, path, Severity.WARNING, message, hint)

    def info(self, mark: Mark, path: str, message: str, hint: str = "") -> None:
        self.add(mark, path, Severity.INFO, message, hint)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.mark, d.severity != Severity.ERROR))
