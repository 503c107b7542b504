"""Events survive the trip through JSON unchanged (the server stores them as text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipline.plan import Event, PullRequest
from shipline.plan.event_codec import event_from_json, event_to_json

names = st.text(min_size=1, max_size=20)


@given(
    branch=st.none() | names,
    tag=st.none() | names,
    custom=st.none() | names,
    pr=st.none() | st.builds(PullRequest, names, names, names),
    variables=st.lists(st.tuples(names, st.text(max_size=30)), max_size=4).map(tuple),
    message=st.text(max_size=60),
)
def test_round_trip(
    branch: str | None,
    tag: str | None,
    custom: str | None,
    pr: PullRequest | None,
    variables: tuple[tuple[str, str], ...],
    message: str,
) -> None:
    event = Event(branch, tag, pr, custom, variables, message)
    assert event_from_json(event_to_json(event)) == event


def test_empty_text_is_the_empty_event() -> None:
    assert event_from_json("") == Event()


def test_a_non_object_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        event_from_json("[1]")
