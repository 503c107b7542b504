"""Rows a route names by their names: found, or a 404 that says what was not there."""

from __future__ import annotations

from fastapi import HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipline.store.models import Environment, Repository


def find_repository(session: Session, name: str) -> Repository:
    found = session.scalar(select(Repository).where(Repository.name == name))
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no repository '{name}'")
    return found


def find_environment(session: Session, repository: Repository, name: str) -> Environment:
    found = session.scalar(
        select(Environment).where(
            Environment.repository_id == repository.id, Environment.name == name
        )
    )
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no environment '{name}' in {repository.name}"
        )
    return found
