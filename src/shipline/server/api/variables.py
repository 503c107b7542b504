"""Repository variables: developers read their names (and plain values), admins set them.

A secured value goes in and never comes out: not here, not in the OpenAPI examples, not in
logs (masked as $NAME).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from shipline.server.api.schemas import VariableIn, VariableOut
from shipline.server.auth import Admin, Developer
from shipline.server.lookups import find_repository
from shipline.server.state import StateDep
from shipline.server.variables import VariableError
from shipline.store.models import Variable

router = APIRouter(prefix="/api/v1", tags=["variables"])


def _out(variable: Variable) -> VariableOut:
    return VariableOut(
        name=variable.name,
        secured=variable.secured,
        value=None if variable.secured else variable.value,
        updated_at=variable.updated_at,
    )


@router.get("/repos/{repo}/variables")
def list_variables(repo: str, state: StateDep, _: Developer) -> list[VariableOut]:
    with state.db.session() as session:
        repository_id = find_repository(session, repo).id
        return [_out(v) for v in state.variables.of_repository(session, repository_id)]


@router.put("/repos/{repo}/variables/{name}")
def set_variable(repo: str, name: str, body: VariableIn, state: StateDep, _: Admin) -> VariableOut:
    """Create or change a variable; steps started from now on see it."""
    with state.db.session() as session:
        repository_id = find_repository(session, repo).id
        try:
            variable = state.variables.set(session, repository_id, name, body.value, body.secured)
        except VariableError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        return _out(variable)


@router.delete("/repos/{repo}/variables/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_variable(repo: str, name: str, state: StateDep, _: Admin) -> Response:
    with state.db.session() as session:
        if not state.variables.delete(session, find_repository(session, repo).id, name):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no variable '{name}' in {repo}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
