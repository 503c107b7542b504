"""Shipline's one exception hierarchy; library errors are translated into these at boundaries."""

from __future__ import annotations


class ShiplineError(Exception):
    """Base class of every error Shipline raises on purpose."""


class ConfigError(ShiplineError):
    """The pipeline file cannot be used; carries the collected diagnostics."""

    def __init__(self, message: str, diagnostics: list[object] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


class PlanError(ShiplineError):
    """No runnable plan for the requested event (unknown custom pipeline, bad variable...)."""


class WorkspaceError(ShiplineError):
    """A step's workspace could not be prepared (clone failed, disk full...)."""


class ExecutorError(ShiplineError):
    """An executor could not start or supervise a step."""


class GitError(ShiplineError):
    """A git command failed; the message carries git's own words."""
