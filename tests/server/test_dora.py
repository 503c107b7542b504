"""DORA metrics from deployment facts: a scripted history computed by hand, edges, properties."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipline.errors import ShiplineError
from shipline.server.dora import CommitFact, DeploymentFact, DoraError, DoraReport, dora_report

UTC = dt.UTC
MONDAY = dt.datetime(2024, 3, 4, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return MONDAY + dt.timedelta(days=day, hours=hour, minutes=minute)


def commit(sha: str, when: dt.datetime) -> CommitFact:
    return CommitFact(sha, when)


def deploy(
    id: int,
    start: dt.datetime,
    end: dt.datetime | None,
    status: str = "passed",
    *,
    kind: str = "deploy",
    env: str = "production",
    delivered: tuple[CommitFact, ...] = (),
) -> DeploymentFact:
    return DeploymentFact(id, env, f"sha{id}", start, end, status, kind, delivered)


# --- the scripted history ------------------------------------------------------------------
#
# Three days of production, [Monday 00:00, Thursday 00:00):
#
#  id day  time         kind      status      delivers (commit time)     note
#  20  -1  12:00–12:10  deploy    passed      c0 (-1 11:00)              before the window
#  21  -1  20:00–20:05  deploy    failed                                 before the window
#   1   0  09:00–09:10  deploy    passed      c1 (0 08:00) c2 (-1 17:00) restores 21: not counted
#   2   0  14:00–14:05  deploy    failed      (c3, but it failed)        failure A
#   3   0  15:00–15:20  deploy    passed      c3 (0 13:00) c4 (0 14:30)  restores A
#   4   1  10:00–10:10  deploy    passed      c5 (1 09:00)               rolled back: failure B
#   5   1  11:00–11:04  rollback  passed                                 restores B
#   6   1  16:00–16:10  deploy    passed      c6 (1 12:00)
#   7   2  09:00–09:01  deploy    cancelled                              ignored
#   8   2  09:30–09:31  deploy    superseded                             ignored
#   9   2  10:00–10:05  redeploy  passed
#  10   2  23:00–       deploy    running                                ignored
#  11   2  22:00–22:10  deploy    failed                                 failure C, never restored
#  12   2  23:30–       deploy    waiting                                ignored
#  13   2  23:40–23:41  deploy    refused                                ignored
#  3x  staging deployments (a failure, a rollback, commits)              ignored
#
# Successful deployments in the window: 1, 3, 4, 5, 6, 9 → 6 over 3 days = 2.0 a day.
# Attempted: those 6 plus failures 2 and 11 → 8. Failed changes: 2, 4 (rolled back), 11 → 3,
# change failure rate 3/8 = 0.375.
# Restores: A from 14:05 to 15:20 = 4500 s; B from the rollback's start 11:00 to its end
# 11:04 = 240 s; C none → restores 2, median (240 + 4500) / 2 = 2370 s.
# Lead times (finished − committed): c1 09:10−08:00 = 4200, c2 09:10−(-1 17:00) = 58200,
# c3 15:20−13:00 = 8400, c4 15:20−14:30 = 3000, c5 10:10−09:00 = 4200, c6 16:10−12:00 = 15000.
# Sorted: 3000 4200 4200 8400 15000 58200 → median (4200 + 8400) / 2 = 6300;
# p90 at rank 0.9 × 5 = 4.5 → 15000 + 0.5 × (58200 − 15000) = 36600.

HISTORY = (
    deploy(20, at(-1, 12), at(-1, 12, 10), delivered=(commit("c0", at(-1, 11)),)),
    deploy(21, at(-1, 20), at(-1, 20, 5), "failed"),
    deploy(1, at(0, 9), at(0, 9, 10), delivered=(commit("c1", at(0, 8)), commit("c2", at(-1, 17)))),
    deploy(2, at(0, 14), at(0, 14, 5), "failed", delivered=(commit("c3", at(0, 13)),)),
    deploy(
        3,
        at(0, 15),
        at(0, 15, 20),
        delivered=(commit("c3", at(0, 13)), commit("c4", at(0, 14, 30))),
    ),
    deploy(4, at(1, 10), at(1, 10, 10), delivered=(commit("c5", at(1, 9)),)),
    deploy(5, at(1, 11), at(1, 11, 4), kind="rollback"),
    deploy(6, at(1, 16), at(1, 16, 10), delivered=(commit("c6", at(1, 12)),)),
    deploy(7, at(2, 9), at(2, 9, 1), "cancelled"),
    deploy(8, at(2, 9, 30), at(2, 9, 31), "superseded"),
    deploy(9, at(2, 10), at(2, 10, 5), kind="redeploy"),
    deploy(10, at(2, 23), None, "running"),
    deploy(11, at(2, 22), at(2, 22, 10), "failed"),
    deploy(12, at(2, 23, 30), None, "waiting"),
    deploy(13, at(2, 23, 40), at(2, 23, 41), "refused"),
    deploy(30, at(0, 8), at(0, 8, 5), env="staging", delivered=(commit("s1", at(0, 7)),)),
    deploy(31, at(0, 10), at(0, 10, 5), "failed", env="staging"),
    deploy(32, at(0, 11), at(0, 11, 5), env="staging"),
    deploy(33, at(0, 12), at(0, 12, 5), kind="rollback", env="staging"),
)


def test_the_scripted_history_gives_the_hand_computed_keys() -> None:
    report = dora_report(HISTORY, since=at(0, 0), until=at(3, 0))
    assert report == DoraReport(
        environment="production",
        since=at(0, 0),
        until=at(3, 0),
        deployments=6,
        deployment_frequency_per_day=2.0,
        lead_time_median_seconds=6300.0,
        lead_time_p90_seconds=36600.0,
        change_failure_rate=0.375,
        failed_changes=3,
        time_to_restore_median_seconds=2370.0,
        restores=2,
    )


def test_the_order_of_the_input_does_not_matter() -> None:
    expected = dora_report(HISTORY, since=at(0, 0), until=at(3, 0))
    shuffled = list(HISTORY)
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert dora_report(shuffled, since=at(0, 0), until=at(3, 0)) == expected


def test_one_day_of_the_history() -> None:
    # Day 1 alone: 4, 5 (rollback) and 6 succeed; 4 was rolled back (240 s to restore);
    # lead times c5 4200 and c6 15000 → median 9600, p90 4200 + 0.9 × 10800 = 13920.
    report = dora_report(HISTORY, since=at(1, 0), until=at(2, 0))
    assert report.deployments == 3
    assert report.deployment_frequency_per_day == 3.0
    assert report.failed_changes == 1
    assert report.change_failure_rate == pytest.approx(1 / 3)
    assert (report.restores, report.time_to_restore_median_seconds) == (1, 240.0)
    assert report.lead_time_median_seconds == 9600.0
    assert report.lead_time_p90_seconds == pytest.approx(13920.0)


def test_a_fractional_window_and_other_environments() -> None:
    # Twelve hours of day 0: deployments 1 and 3 succeed → 2 / 0.5 days = 4 a day.
    report = dora_report(HISTORY, since=at(0, 6), until=at(0, 18))
    assert (report.deployments, report.deployment_frequency_per_day) == (2, 4.0)
    # Staging: 30, 32 and the rollback 33 succeed, 31 failed and 32 was rolled back.
    staging = dora_report(HISTORY, environment="staging", since=at(0, 0), until=at(1, 0))
    assert (staging.deployments, staging.failed_changes) == (3, 2)
    assert staging.change_failure_rate == 0.5
    # 31: 10:05 → 32 finished 11:05 = 3600 s; 32: rollback 12:00 → 12:05 = 300 s.
    assert (staging.restores, staging.time_to_restore_median_seconds) == (2, 1950.0)
    assert staging.lead_time_median_seconds == 3900.0  # s1: 08:05 − 07:00


def test_an_empty_history_gives_zeros_and_nones() -> None:
    for facts in (
        [],
        [deploy(1, at(0, 9), at(0, 10), env="staging")],
        [deploy(2, at(0, 9), None, "running")],
    ):
        report = dora_report(facts, since=at(0, 0), until=at(7, 0))
        assert report == DoraReport(
            "production", at(0, 0), at(7, 0), 0, 0.0, None, None, None, 0, None, 0
        )


def test_the_window_is_half_open_on_finished_at() -> None:
    since, until = at(0, 0), at(1, 0)
    facts = [
        deploy(1, at(-1, 23, 50), since),  # started before, finished at `since`: in
        deploy(2, at(0, 23), until - dt.timedelta(microseconds=1)),  # in
        deploy(3, at(0, 23, 55), until),  # finished at `until`: out
        deploy(4, at(-1, 22), at(-1, 23), "failed"),  # before: out
        deploy(5, at(0, 12), None, "failed"),  # no end: counted by its start, in
    ]
    report = dora_report(facts, since=since, until=until)
    assert report.deployments == 2
    assert report.failed_changes == 1
    assert report.change_failure_rate == pytest.approx(1 / 3)
    # 5 "failed" at its start (12:00) and deployment 2 restored it just before midnight.
    assert report.time_to_restore_median_seconds == pytest.approx(12 * 3600 - 1e-6)


def test_a_failure_restored_after_the_window_still_counts_as_restored() -> None:
    facts = [
        deploy(1, at(0, 22), at(0, 23), delivered=(commit("a", at(0, 21)),)),
        deploy(2, at(1, 1), at(1, 1, 5), kind="rollback"),  # after the window
    ]
    report = dora_report(facts, since=at(0, 0), until=at(1, 0))
    assert (report.deployments, report.failed_changes, report.restores) == (1, 1, 1)
    assert report.change_failure_rate == 1.0
    assert report.time_to_restore_median_seconds == 300.0
    assert report.lead_time_median_seconds == 7200.0
    # The rollback itself belongs to the next day, which has no failure of its own.
    next_day = dora_report(facts, since=at(1, 0), until=at(2, 0))
    assert (next_day.deployments, next_day.failed_changes) == (1, 0)
    assert next_day.change_failure_rate == 0.0
    assert next_day.lead_time_median_seconds is None


def test_a_rollback_after_a_failed_deployment_does_not_blame_the_one_before() -> None:
    facts = [
        deploy(1, at(0, 9), at(0, 9, 10)),
        deploy(2, at(0, 10), at(0, 10, 10), "failed"),
        deploy(3, at(0, 11), at(0, 11, 5), kind="rollback"),
    ]
    report = dora_report(facts, since=at(0, 0), until=at(1, 0))
    assert (report.deployments, report.failed_changes, report.restores) == (2, 1, 1)
    assert report.time_to_restore_median_seconds == 55 * 60.0  # 10:10 → 11:05


def test_a_failed_rollback_is_a_failure_and_the_first_attempt_marks_the_rolled_back_one() -> None:
    facts = [
        deploy(1, at(0, 9), at(0, 9, 10)),
        deploy(2, at(0, 10), at(0, 10, 2), "failed", kind="rollback"),
        deploy(3, at(0, 10, 30), at(0, 10, 35), kind="rollback"),
    ]
    report = dora_report(facts, since=at(0, 0), until=at(1, 0))
    # 1 rolled back (10:00 → 10:35 = 2100 s), the failed rollback 2 (10:02 → 10:35 = 1980 s).
    assert (report.deployments, report.failed_changes, report.restores) == (2, 2, 2)
    assert report.change_failure_rate == pytest.approx(2 / 3)
    assert report.time_to_restore_median_seconds == 2040.0


def test_a_forward_deployment_in_between_shields_the_earlier_one() -> None:
    facts = [
        deploy(1, at(0, 9), at(0, 9, 10)),
        deploy(2, at(0, 9, 20), at(0, 9, 21), "cancelled"),  # ignored: does not shield
        deploy(3, at(0, 10), at(0, 10, 10), kind="redeploy"),
        deploy(4, at(0, 11), at(0, 11, 5), kind="rollback"),
    ]
    report = dora_report(facts, since=at(0, 0), until=at(1, 0))
    assert report.failed_changes == 1  # 3, not 1: a rollback replaces the latest change
    assert report.time_to_restore_median_seconds == 300.0


def test_lead_time_counts_a_commit_once_and_never_negative() -> None:
    facts = [
        deploy(1, at(0, 9), at(0, 10), delivered=(commit("a", at(0, 8)), commit("b", at(0, 11)))),
        # The same commit listed again by a later deployment: the first delivery counts.
        deploy(2, at(0, 12), at(0, 13), delivered=(commit("a", at(0, 8)),)),
    ]
    report = dora_report(facts, since=at(0, 0), until=at(1, 0))
    # a: 7200 s, b: committed after the deployment finished (clock skew) → 0 s.
    assert report.lead_time_median_seconds == 3600.0
    assert report.lead_time_p90_seconds == pytest.approx(6480.0)


def test_timezones_mix() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    facts = [
        deploy(1, at(0, 9), at(0, 10), delivered=(commit("a", at(0, 9).astimezone(plus_two)),))
    ]
    report = dora_report(facts, since=at(0, 0).astimezone(plus_two), until=at(1, 0))
    assert (report.deployments, report.lead_time_median_seconds) == (1, 3600.0)


def test_to_dict_is_json_ready() -> None:
    data = dora_report(HISTORY, since=at(0, 0), until=at(3, 0)).to_dict()
    assert data["since"] == "2024-03-04T00:00:00+00:00"
    assert data["until"] == "2024-03-07T00:00:00+00:00"
    assert data["change_failure_rate"] == 0.375
    assert json.loads(json.dumps(data)) == data
    empty = dora_report([], since=at(0, 0), until=at(1, 0)).to_dict()
    assert empty["lead_time_median_seconds"] is None
    assert set(empty) == set(data)


@pytest.mark.parametrize(
    ("since", "until", "facts", "message"),
    [
        (at(1, 0), at(1, 0), [], "window is empty"),
        (at(2, 0), at(1, 0), [], "window is empty"),
        (dt.datetime(2024, 3, 4), at(1, 0), [], "since must be timezone-aware"),
        (
            at(0, 0),
            at(1, 0),
            [deploy(7, dt.datetime(2024, 3, 4, 9), None, "failed")],
            "deployment 7: started_at must be timezone-aware",
        ),
        (
            at(0, 0),
            at(1, 0),
            [deploy(8, at(0, 9), at(0, 10), delivered=(commit("x", dt.datetime(2024, 3, 4)),))],
            "deployment 8: commit x must be timezone-aware",
        ),
    ],
)
def test_bad_arguments_are_dora_errors(
    since: dt.datetime, until: dt.datetime, facts: list[DeploymentFact], message: str
) -> None:
    with pytest.raises(DoraError, match=message) as caught:
        dora_report(facts, since=since, until=until)
    assert isinstance(caught.value, ShiplineError)


# --- properties ----------------------------------------------------------------------------

STATUSES = ["passed", "failed", "cancelled", "running", "waiting", "superseded", "refused"]
ZONES = [UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5))]


def _moment(minutes: int, zone: dt.tzinfo) -> dt.datetime:
    return (MONDAY + dt.timedelta(minutes=minutes)).astimezone(zone)


def _fact(
    start: dt.datetime,
    minutes: int | None,
    status: str,
    environment: str,
    kind: str,
    delivered: list[CommitFact],
) -> DeploymentFact:
    unfinished = minutes is None or status in ("running", "waiting")  # about 1 in 10 others
    end = None if minutes is None or unfinished else start + dt.timedelta(minutes=minutes)
    return DeploymentFact(0, environment, "x", start, end, status, kind, tuple(delivered))


# Strategies built once: building them inside a composite per draw is what makes tests slow.
MOMENTS = st.builds(
    _moment, st.integers(min_value=-2 * 24 * 60, max_value=6 * 24 * 60), st.sampled_from(ZONES)
)
FACT = st.builds(
    _fact,
    start=MOMENTS,
    minutes=st.none() | st.integers(0, 600),
    status=st.sampled_from(STATUSES),
    environment=st.sampled_from(["production", "staging"]),
    kind=st.sampled_from(["deploy", "redeploy", "rollback"]),
    delivered=st.lists(
        st.builds(CommitFact, st.sampled_from("abcdefgh"), MOMENTS),
        max_size=4,
        unique_by=lambda c: c.sha,
    ),
)
HISTORIES = st.lists(FACT, max_size=25).map(
    lambda facts: [dataclasses.replace(f, id=number) for number, f in enumerate(facts)]
)
WINDOWS = st.builds(
    lambda since, minutes: (since, since + dt.timedelta(minutes=minutes)),
    MOMENTS,
    st.integers(1, 5 * 24 * 60),
)


@settings(max_examples=200, deadline=None)
@given(HISTORIES, WINDOWS, st.data())
def test_reports_are_consistent_for_any_valid_facts(
    history: list[DeploymentFact], window: tuple[dt.datetime, dt.datetime], data: st.DataObject
) -> None:
    since, until = window
    report = dora_report(history, since=since, until=until)

    def counted(fact: DeploymentFact) -> bool:
        moment = fact.finished_at if fact.finished_at is not None else fact.started_at
        return fact.environment == "production" and since <= moment < until

    attempted = [f for f in history if counted(f) and f.status in ("passed", "failed")]
    passed = [f for f in attempted if f.status == "passed"]
    assert report.deployments == len(passed)
    days = (until - since).total_seconds() / 86400
    assert report.deployment_frequency_per_day == pytest.approx(len(passed) / days)
    assert len(attempted) - len(passed) <= report.failed_changes <= len(attempted)
    assert 0 <= report.restores <= report.failed_changes
    if attempted:
        rate = report.change_failure_rate
        assert rate is not None
        assert rate == pytest.approx(report.failed_changes / len(attempted))
        assert 0.0 <= rate <= 1.0
    else:
        assert report.change_failure_rate is None
    assert (report.restores == 0) == (report.time_to_restore_median_seconds is None)
    if report.time_to_restore_median_seconds is not None:
        assert report.time_to_restore_median_seconds >= 0
    assert (report.lead_time_median_seconds is None) == (report.lead_time_p90_seconds is None)
    if report.lead_time_median_seconds is not None:
        assert report.lead_time_p90_seconds is not None
        assert 0 <= report.lead_time_median_seconds <= report.lead_time_p90_seconds
        assert passed  # lead times come only from successful deployments in the window
    json.dumps(report.to_dict())

    shuffled = data.draw(st.permutations(history))
    assert dora_report(shuffled, since=since, until=until) == report


@settings(max_examples=200, deadline=None)
@given(HISTORIES, WINDOWS, st.integers(min_value=1, max_value=100))
def test_counts_add_up_over_adjacent_windows(
    history: list[DeploymentFact], window: tuple[dt.datetime, dt.datetime], percent: int
) -> None:
    since, until = window
    middle = since + (until - since) * percent / 101
    whole = dora_report(history, since=since, until=until)
    first = dora_report(history, since=since, until=middle)
    second = dora_report(history, since=middle, until=until)
    assert whole.deployments == first.deployments + second.deployments
    assert whole.failed_changes == first.failed_changes + second.failed_changes
    assert whole.restores == first.restores + second.restores
