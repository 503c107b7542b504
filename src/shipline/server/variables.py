"""Repository variables: plain ones stored as they are, secured ones encrypted at rest.

A secured value is never returned by the API (only its name, and that it is secured) and is
masked in step logs as `$NAME`. As on Bitbucket, a secured variable cannot be made plain
again: delete it and create it anew.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shipline.errors import ShiplineError
from shipline.server.secretbox import SecretBox
from shipline.store.models import DeploymentVariable, Variable, utcnow

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
RESERVED_PREFIXES = ("BITBUCKET_",)


class VariableError(ShiplineError):
    """A variable cannot be stored as asked (bad name, unsecuring a secured one...)."""


class VariableService:
    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def set(
        self, session: Session, repository_id: int, name: str, value: str, secured: bool
    ) -> Variable:
        self._check_name(name)
        found = session.scalar(
            select(Variable).where(Variable.repository_id == repository_id, Variable.name == name)
        )
        if found is not None and found.secured and not secured:
            raise VariableError(
                f"'{name}' is secured and cannot be made plain; delete it and set it again"
            )
        stored = self.box.encrypt(value) if secured else value
        if found is None:
            found = Variable(repository_id=repository_id, name=name, value=stored, secured=secured)
            session.add(found)
        else:
            found.value, found.secured, found.updated_at = stored, secured, utcnow()
        session.flush()
        return found

    @staticmethod
    def _check_name(name: str) -> None:
        if not NAME.match(name):
            raise VariableError(
                f"'{name}' is not a variable name: use letters, digits and _, "
                "not starting with a digit"
            )
        if name.upper().startswith(RESERVED_PREFIXES):
            raise VariableError(f"'{name}': names starting with BITBUCKET_ are set by Shipline")

    def of_repository(self, session: Session, repository_id: int) -> list[Variable]:
        return list(
            session.scalars(
                select(Variable)
                .where(Variable.repository_id == repository_id)
                .order_by(Variable.name)
            ).all()
        )

    def delete(self, session: Session, repository_id: int, name: str) -> bool:
        result = session.execute(
            delete(Variable).where(Variable.repository_id == repository_id, Variable.name == name)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def resolve(
        self, session: Session, repository_id: int, environment_id: int | None = None
    ) -> tuple[dict[str, str], tuple[str, ...]]:
        """The values a step sees (secured ones decrypted) and the names to mask; a
        deployment step's environment variables override repository ones (Bitbucket's
        precedence: deployment, then repository)."""
        env: dict[str, str] = {}
        secured: set[str] = set()
        rows: list[Variable | DeploymentVariable] = list(self.of_repository(session, repository_id))
        if environment_id is not None:
            rows += self.of_environment(session, environment_id)
        for variable in rows:  # environment ones come last and win
            if variable.secured:
                env[variable.name] = self.box.decrypt(variable.value)
                secured.add(variable.name)
            else:
                env[variable.name] = variable.value
                secured.discard(variable.name)
        return env, tuple(sorted(secured))

    # ---- deployment variables: the same rules, per environment --------------------------

    def set_for_environment(
        self, session: Session, environment_id: int, name: str, value: str, secured: bool
    ) -> DeploymentVariable:
        self._check_name(name)
        found = session.scalar(
            select(DeploymentVariable).where(
                DeploymentVariable.environment_id == environment_id,
                DeploymentVariable.name == name,
            )
        )
        if found is not None and found.secured and not secured:
            raise VariableError(
                f"'{name}' is secured and cannot be made plain; delete it and set it again"
            )
        stored = self.box.encrypt(value) if secured else value
        if found is None:
            found = DeploymentVariable(
                environment_id=environment_id, name=name, value=stored, secured=secured
            )
            session.add(found)
        else:
            found.value, found.secured, found.updated_at = stored, secured, utcnow()
        session.flush()
        return found

    def of_environment(self, session: Session, environment_id: int) -> list[DeploymentVariable]:
        return list(
            session.scalars(
                select(DeploymentVariable)
                .where(DeploymentVariable.environment_id == environment_id)
                .order_by(DeploymentVariable.name)
            ).all()
        )

    def delete_for_environment(self, session: Session, environment_id: int, name: str) -> bool:
        result = session.execute(
            delete(DeploymentVariable).where(
                DeploymentVariable.environment_id == environment_id,
                DeploymentVariable.name == name,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
