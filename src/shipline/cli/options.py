"""Parsing helpers shared by commands."""

from __future__ import annotations

import typer


def parse_variables(values: list[str] | None) -> tuple[tuple[str, str], ...]:
    """`--var K=V` items into ordered pairs; a bad item is a usage error."""
    pairs: list[tuple[str, str]] = []
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected NAME=VALUE, got '{item}'", param_hint="--var")
        pairs.append((name.strip(), value))
    return tuple(pairs)


def parse_pull_request(value: str | None) -> tuple[str, str, str] | None:
    """`--pull-request SOURCE:DESTINATION[:ID]`."""
    if value is None:
        return None
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise typer.BadParameter(
            "expected SOURCE:DESTINATION or SOURCE:DESTINATION:ID", param_hint="--pull-request"
        )
    pr_id = parts[2] if len(parts) == 3 else "1"
    return pr_id, parts[0], parts[1]


def one_event(branch: str | None, tag: str | None, custom: str | None, pr: str | None) -> None:
    given = [
        name
        for name, v in (
            ("--branch", branch),
            ("--tag", tag),
            ("--custom", custom),
            ("--pull-request", pr),
        )
        if v is not None
    ]
    if len(given) > 1 and not (given == ["--branch", "--custom"]):
        raise typer.BadParameter(f"choose one of {', '.join(given)}")
