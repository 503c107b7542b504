"""DORA's four keys for one environment, computed from Shipline's deployment records (pure).

Definitions followed:

- DORA, "DORA's software delivery performance metrics", https://dora.dev/guides/dora-metrics/
  (and the earlier "four keys" guide, https://dora.dev/guides/dora-metrics-four-keys/):
  change lead time is "the amount of time it takes for a change to go from committed to
  version control to deployed in production"; deployment frequency is "the number of
  deployments over a given period"; change fail rate is "the ratio of deployments that
  require immediate intervention following a deployment", "likely resulting in a rollback
  of the changes or a hotfix"; failed deployment recovery time (formerly time to restore
  service) is "the time it takes to recover from a deployment that fails and requires
  immediate intervention".
- Google's Four Keys project, https://github.com/dora-team/fourkeys/blob/main/METRICS.md:
  lead time is "the median amount of time for a commit to be deployed into production"
  (BigQuery PERCENTILE_CONT), change failure rate "the number of failures per the number of
  deployments", time to restore "the median amount of time between the deployment which
  caused the failure and the restoration", measured by closing the incident.
- GitLab, "DevOps Research and Assessment (DORA) metrics",
  https://docs.gitlab.com/ee/user/analytics/dora_metrics.html: deployment frequency counts
  successful deployments to production by their end time (`finished_at`) and averages them
  per day; lead time is a median in seconds, from the merge request's merge to "code
  successfully running in production"; time to restore is the median time an incident was
  open; change failure rate is incidents / deployments.

Where the sources differ, Shipline chooses:

1. **What a failure is.** Four Keys and GitLab count incidents (GitLab: one incident per
   deployment at most); Shipline has no incident data, so it uses what it sees of DORA's
   wording ("a deployment that fails", "a rollback of the changes"): a deployment that
   failed, and a successful forward deployment that a rollback replaced before any other
   forward deployment was attempted (passed or failed: a cancelled, superseded or refused
   one never ran, so it replaced nothing).
2. **Change failure rate denominator.** Four Keys and GitLab divide by (successful)
   deployments; since a failed deployment is itself a failure here, Shipline divides by
   deployments *attempted* (passed or failed), so the rate stays within [0, 1].
3. **Lead time** runs from the commit time (DORA, Four Keys; GitLab starts at the merge,
   which under-measures) to the deployment's `finished_at` (GitLab; Four Keys uses the
   deployment's creation time), for each commit the deployment brought to the environment
   for the first time. Four Keys drops zero-minute changes to discount merge-commit pushes;
   Shipline keeps them, since `delivered` lists real commits. A commit dated after the
   deployment finished (clock skew) counts as 0 s. The median and the 90th percentile use
   linear interpolation between closest ranks, as PERCENTILE_CONT does.
4. **Time to restore** runs from the failure (the failed deployment's `finished_at`, or for a
   rolled-back deployment the start of the first rollback attempt after it) to the
   `finished_at` of the next successful deployment of the environment (a rollback or a fix)
   — not from incident opening to closing as in Four Keys' query and GitLab. For a
   rolled-back deployment this leaves out the time it ran before anyone reacted (Four Keys'
   definition would start at the deployment): Shipline cannot tell when its trouble began,
   only when the rollback did.
5. **Every kind counts as a deployment.** Redeploys and rollbacks change what the
   environment runs, so they count for frequency and in the failure-rate denominator; a
   failed rollback is a failed change. (DORA's fifth metric, deployment rework rate, would
   single them out; it is not reported here.)

Rules:

- Only deployments of `environment` with status "passed" or "failed" are used; cancelled,
  superseded, refused, waiting and running ones (and unknown statuses) are ignored.
- A deployment belongs to the window when its `finished_at` (its `started_at` if it has
  none) lies in [since, until). Failures and lead times belong to the window of their
  deployment; the rollback that marks a failure and the deployment that restores it are
  looked up in the whole history given, so a failure at the end of the window still counts
  as restored when the fix came after `until`.
- A failure not restored by any later successful deployment is left out of the median but
  counted: `restores` < `failed_changes` says how many are still open.
- Deployment frequency = successful deployments in the window / window length in days
  (fractional days allowed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from shipline.errors import ShiplineError

ATTEMPTED = frozenset({"passed", "failed"})
SECONDS_PER_DAY = 86_400.0


class DoraError(ShiplineError):
    """The report cannot be computed: an empty window or a naive datetime."""


@dataclass(frozen=True)
class CommitFact:
    sha: str
    committed_at: dt.datetime  # when the change was made (commit time), timezone-aware


@dataclass(frozen=True)
class DeploymentFact:
    id: int
    environment: str
    commit: str
    started_at: dt.datetime
    finished_at: dt.datetime | None  # None: still running
    status: str  # "passed", "failed", "cancelled", "running", "waiting", "superseded", "refused"
    kind: str = "deploy"  # "deploy" (a pipeline's deployment step), "redeploy", "rollback"
    # Commits this deployment brought to the environment for the first time (empty for rollbacks).
    delivered: tuple[CommitFact, ...] = ()


@dataclass(frozen=True)
class DoraReport:
    environment: str
    since: dt.datetime
    until: dt.datetime
    deployments: int  # successful deployments in the window
    deployment_frequency_per_day: float
    lead_time_median_seconds: float | None  # commits delivered in the window: finished − committed
    lead_time_p90_seconds: float | None
    change_failure_rate: float | None  # failed changes / deployments attempted (None: none)
    failed_changes: int
    time_to_restore_median_seconds: float | None
    restores: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: datetimes as ISO 8601 strings, everything else as is."""
        data: dict[str, object] = dataclasses.asdict(self)
        data["since"] = self.since.isoformat()
        data["until"] = self.until.isoformat()
        return data


def dora_report(
    deployments: Iterable[DeploymentFact],
    *,
    environment: str = "production",
    since: dt.datetime,
    until: dt.datetime,
) -> DoraReport:
    """The four keys of `environment` over [since, until); see the module docstring."""
    _require_aware(since, "since")
    _require_aware(until, "until")
    if until <= since:
        raise DoraError(f"the window is empty: until ({until}) is not after since ({since})")
    history = sorted(
        (d for d in deployments if d.environment == environment and d.status in ATTEMPTED),
        key=_order,
    )
    for fact in history:
        _check_fact(fact)

    def in_window(index: int) -> bool:
        return since <= _moment(history[index]) < until

    attempted = [i for i in range(len(history)) if in_window(i)]
    successes = [i for i in attempted if history[i].status == "passed"]

    restore_times: list[float] = []
    failed_changes = 0
    for index, failed_at, restored_at in _failures(history):
        if not in_window(index):
            continue
        failed_changes += 1
        if restored_at is not None:
            restore_times.append(max(0.0, (restored_at - failed_at).total_seconds()))

    lead_times = _lead_times(history, in_window)
    days = (until - since).total_seconds() / SECONDS_PER_DAY
    return DoraReport(
        environment=environment,
        since=since,
        until=until,
        deployments=len(successes),
        deployment_frequency_per_day=len(successes) / days,
        lead_time_median_seconds=_percentile(lead_times, 0.5),
        lead_time_p90_seconds=_percentile(lead_times, 0.9),
        change_failure_rate=failed_changes / len(attempted) if attempted else None,
        failed_changes=failed_changes,
        time_to_restore_median_seconds=_percentile(restore_times, 0.5),
        restores=len(restore_times),
    )


def _moment(fact: DeploymentFact) -> dt.datetime:
    """When the deployment counts: its end, or its start while it has none."""
    return fact.finished_at if fact.finished_at is not None else fact.started_at


def _order(fact: DeploymentFact) -> tuple[dt.datetime, dt.datetime, int, str, str, str, bool]:
    # Every field that can tell two facts apart, so the input order never matters.
    return (
        _moment(fact),
        fact.started_at,
        fact.id,
        fact.status,
        fact.kind,
        fact.commit,
        fact.finished_at is None,
    )


def _failures(
    history: Sequence[DeploymentFact],
) -> Iterable[tuple[int, dt.datetime, dt.datetime | None]]:
    """(index, failed at, restored at or None) of every failed change in `history`."""
    # next_success[i]: the moment of the first successful deployment after position i.
    next_success: list[dt.datetime | None] = [None] * len(history)
    upcoming: dt.datetime | None = None
    for i in range(len(history) - 1, -1, -1):
        next_success[i] = upcoming
        if history[i].status == "passed":
            upcoming = _moment(history[i])

    for i, fact in enumerate(history):
        if fact.status == "failed":
            yield i, _moment(fact), next_success[i]
        elif fact.kind != "rollback":
            rollback = _rolled_back(history, i)
            if rollback is not None:
                started, restored = rollback
                # The failure cannot begin before the deployment itself finished.
                yield i, max(started, _moment(fact)), restored


def _rolled_back(
    history: Sequence[DeploymentFact], index: int
) -> tuple[dt.datetime, dt.datetime] | None:
    """(first rollback attempt's start, successful rollback's end) when a rollback replaced
    the successful forward deployment at `index` before another forward attempt."""
    first_attempt: dt.datetime | None = None
    for later in history[index + 1 :]:
        if later.kind != "rollback":
            return None  # a forward deployment came first: what replaced this one is a change
        if first_attempt is None:
            first_attempt = later.started_at
        if later.status == "passed":
            return first_attempt, _moment(later)
    return None


def _lead_times(history: Sequence[DeploymentFact], in_window: Callable[[int], bool]) -> list[float]:
    """Seconds from commit to production for each commit first delivered in the window."""
    first_delivery: dict[str, tuple[int, CommitFact]] = {}
    for i, fact in enumerate(history):
        if fact.status != "passed":
            continue
        for commit in fact.delivered:
            # `delivered` lists first deliveries; should a commit appear twice anyway, the
            # earlier deployment is the one that brought it.
            first_delivery.setdefault(commit.sha, (i, commit))
    return [
        max(0.0, (_moment(history[i]) - commit.committed_at).total_seconds())
        for i, commit in first_delivery.values()
        if in_window(i)
    ]


def _percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (PERCENTILE_CONT); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _require_aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise DoraError(f"{name} must be timezone-aware, got {value.isoformat()}")


def _check_fact(fact: DeploymentFact) -> None:
    _require_aware(fact.started_at, f"deployment {fact.id}: started_at")
    if fact.finished_at is not None:
        _require_aware(fact.finished_at, f"deployment {fact.id}: finished_at")
    for commit in fact.delivered:
        _require_aware(commit.committed_at, f"deployment {fact.id}: commit {commit.sha}")
