"""Artifact retention: old artifacts go, except those an environment's last deployments
(and the deployments they repeat) may need for a rollback."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shipline.server.retention import prune_artifacts

PIPELINE = """
pipelines:
  branches:
    main:
      - step:
          name: Build
          script: [mkdir -p dist, echo "$BITBUCKET_COMMIT" > dist/app.txt]
          artifacts: [dist/**]
      - step:
          name: Deploy
          deployment: staging
          script: [cat dist/app.txt]
  custom:
    build-only:
      - step:
          name: Build
          script: [mkdir -p dist, echo build > dist/app.txt]
          artifacts: [dist/**]
"""
LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)


def test_old_artifacts_go_but_recent_deployments_keep_theirs(hosted: Any) -> None:
    repo = hosted(PIPELINE)
    state = repo.api.state
    root = state.settings.data_dir / "artifacts"
    ids = {}
    for name in ("first", "second"):
        repo.commit({"v.txt": name}, name)
        number = repo.wait(repo.trigger()["number"], {"passed"})["number"]
        ids[name] = number
    other = repo.wait(repo.trigger(custom="build-only")["number"], {"passed"})["number"]
    pipeline_ids = {n: _pipeline_id(state, n) for n in (*ids.values(), other)}
    assert all((root / str(p)).is_dir() for p in pipeline_ids.values())

    assert prune_artifacts(state.db, root, days=14, keep=1) == []  # nothing is old yet
    gone = prune_artifacts(state.db, root, days=14, keep=1, now=LATER)
    assert set(gone) == {pipeline_ids[ids["first"]], pipeline_ids[other]}
    assert (root / str(pipeline_ids[ids["second"]])).is_dir()


def test_a_rollback_keeps_the_artifacts_of_what_it_repeats(hosted: Any) -> None:
    repo = hosted(PIPELINE)
    state = repo.api.state
    root = state.settings.data_dir / "artifacts"
    first = repo.wait(repo.trigger()["number"], {"passed"})
    repo.commit({"v.txt": "2"}, "second")
    repo.wait(repo.trigger()["number"], {"passed"})
    rolled = repo.api.post("/repos/shop/environments/staging/rollback", {}).json()
    repo.wait(rolled["number"], {"passed"})
    # keep=1: only the rollback is "last" — yet the pipeline it restored from stays.
    prune_artifacts(state.db, root, days=14, keep=1, now=LATER)
    assert (root / str(_pipeline_id(state, first["number"]))).is_dir()
    assert first["commit"] in repo.log(rolled["number"], "Deploy")


def _pipeline_id(state: Any, number: int) -> int:
    from sqlalchemy import select

    from shipline.store.models import Pipeline

    with state.db.session() as session:
        found = session.scalar(select(Pipeline.id).where(Pipeline.build_number == number))
    assert found is not None
    return int(found)
