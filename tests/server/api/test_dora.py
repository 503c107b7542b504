"""GET /api/v1/repos/R/dora: the four keys from deployment records, on a scripted history
whose answers are worked out by hand below."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from shipline.store.models import Deployment, Environment, Pipeline, Step

ONE = "pipelines:\n  default:\n    - step:\n        name: Only\n        script: [echo hi]\n"
DAY0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return DAY0 + dt.timedelta(days=day, hours=hour, minutes=minute)


def test_dora_figures_from_a_scripted_history(hosted: Any) -> None:
    repo = hosted(ONE)
    number = repo.wait(repo.trigger()["number"], {"passed"})["number"]
    state = repo.api.state
    with state.db.session() as session:
        pipeline = session.scalar(select(Pipeline).where(Pipeline.build_number == number))
        assert pipeline is not None
        step = session.scalar(select(Step).where(Step.pipeline_id == pipeline.id))
        assert step is not None
        prod = Environment(repository_id=pipeline.repository_id, name="production",
                           kind="production", position=200)  # fmt: skip
        staging = Environment(repository_id=pipeline.repository_id, name="staging",
                              kind="staging", position=100)  # fmt: skip
        session.add_all([prod, staging])
        session.flush()

        Delivered = tuple[tuple[str, dt.datetime], ...]

        def deploy(env: Environment, status: str, start: dt.datetime, end: dt.datetime,
                   kind: str = "deploy", delivered: Delivered = ()) -> None:  # fmt: skip
            session.add(Deployment(
                environment_id=env.id, repository_id=pipeline.repository_id,
                pipeline_id=pipeline.id, step_id=step.id, commit="c" * 40, status=status,
                kind=kind, queued_at=start, started_at=start, finished_at=end,
                delivered=json.dumps([[sha, when.isoformat()] for sha, when in delivered]),
            ))  # fmt: skip
            session.flush()

        deploy(
            prod,
            "passed",
            at(0, 10),
            at(0, 10, 10),
            delivered=(("c1", at(0, 8, 10)), ("c2", at(0, 9, 10))),
        )  # leads 2 h, 1 h
        deploy(prod, "failed", at(1, 10), at(1, 10, 5), delivered=(("c3", at(1, 9, 5)),))
        deploy(
            prod,
            "passed",
            at(1, 12),
            at(1, 12, 5),  # fixes it: restored after 2 h
            delivered=(("c3", at(1, 9, 5)),),
        )  # lead 3 h
        deploy(prod, "passed", at(2, 10), at(2, 10, 10), delivered=(("c4", at(2, 9, 10)),))
        deploy(prod, "passed", at(2, 11), at(2, 11, 10), kind="rollback")  # 10 min to restore
        deploy(prod, "cancelled", at(2, 12), at(2, 12, 1))  # never ran: not counted
        deploy(staging, "failed", at(0, 1), at(0, 2))  # another environment: not counted

    report = repo.api.get(
        "/repos/shop/dora", params={"since": at(0, 0).isoformat(), "until": at(3, 0).isoformat()}
    )
    assert report["environment"] == "production"  # the production kind, by default
    assert report["deployments"] == 4
    assert report["deployment_frequency_per_day"] == 4 / 3
    assert report["lead_time_median_seconds"] == 1.5 * 3600
    assert report["lead_time_p90_seconds"] == 2.7 * 3600
    assert report["failed_changes"] == 2  # the failed deploy, and the one rolled back
    assert report["change_failure_rate"] == 2 / 5
    assert report["restores"] == 2
    assert report["time_to_restore_median_seconds"] == (2 * 3600 + 600) / 2

    staging_report = repo.api.get(
        "/repos/shop/dora",
        params={"environment": "staging", "since": at(0, 0).isoformat(),
                "until": at(3, 0).isoformat()},
    )  # fmt: skip
    assert staging_report["change_failure_rate"] == 1.0
    bad = repo.api.client.get(
        "/api/v1/repos/shop/dora",
        params={"since": at(3, 0).isoformat(), "until": at(0, 0).isoformat()},
        headers=repo.api.headers(),
    )
    assert bad.status_code == 422
