"""The event a pipeline is chosen for: push kinds, [skip ci], descriptions."""

from __future__ import annotations

import dataclasses

import pytest

from shipline.plan import Event, PullRequest

PR = PullRequest("7", "feature/x", "main")


@pytest.mark.parametrize(
    ("event", "is_push"),
    [
        (Event(branch="main"), True),
        (Event(tag="v1.0"), True),
        (Event(), True),
        (Event(custom="deploy"), False),
        (Event(custom="deploy", branch="main"), False),
        (Event(pull_request=PR), False),
        (Event(pull_request=PR, branch="feature/x"), False),
    ],
)
def test_is_push(event: Event, is_push: bool) -> None:
    assert event.is_push is is_push


@pytest.mark.parametrize(
    "message",
    [
        "[skip ci]",
        "[ci skip]",
        "[SKIP CI]",
        "[Ci Skip]",
        "[Skip Ci] tidy the README",
        "fix typo [skip ci]",
        "subject line\n\nbody text\n[ci skip]\n",
    ],
)
def test_skip_ci_markers_skip_pushes(message: str) -> None:
    assert Event(branch="main", commit_message=message).skip_requested
    assert Event(tag="v1", commit_message=message).skip_requested
    assert Event(commit_message=message).skip_requested


@pytest.mark.parametrize(
    "message",
    [
        "",
        "skip ci",
        "ci skip",
        "[skip-ci]",
        "[skipci]",
        "[skip  ci]",
        "(skip ci)",
        "[ci] skip",
        "[skip ci",
    ],
)
def test_other_messages_do_not_skip(message: str) -> None:
    assert not Event(branch="main", commit_message=message).skip_requested


@pytest.mark.parametrize(
    "event",
    [
        Event(custom="deploy", commit_message="[skip ci]"),
        Event(pull_request=PR, commit_message="[ci skip]"),
    ],
)
def test_skip_ci_does_not_apply_to_custom_or_pull_request_runs(event: Event) -> None:
    assert not event.skip_requested


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (Event(custom="deploy", branch="main"), "custom pipeline 'deploy'"),
        (Event(pull_request=PR, branch="feature/x"), "pull request #7 (feature/x → main)"),
        (Event(tag="v1.0", branch="main"), "tag 'v1.0'"),
        (Event(branch="main"), "branch 'main'"),
        (Event(), "a push"),
    ],
)
def test_describe(event: Event, text: str) -> None:
    assert event.describe() == text


def test_events_are_frozen_and_hashable() -> None:
    event = Event(branch="main", variables=(("A", "1"),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.branch = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        PR.source = "x"  # type: ignore[misc]
    assert event == Event(branch="main", variables=(("A", "1"),))
    assert hash(event) == hash(Event(branch="main", variables=(("A", "1"),)))
