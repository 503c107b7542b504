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
from shipline.store.models import Variable, utcnow

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
        if not NAME.match(name):
            raise VariableError(
                f"'{name}' is not a variable name: use letters, digits and _, "
                "not starting with a digit"
            )
        if name.upper().startswith(RESERVED_PREFIXES):
            raise VariableError(f"'{name}': names starting with BITBUCKET_ are set by Shipline")
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

    def list(self, session: Session, repository_id: int) -> list[Variable]:
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
        self, session: Session, repository_id: int
    ) -> tuple[dict[str, str], tuple[str, ...]]:
        """The values a step sees (secured ones decrypted) and the names to mask."""
        env: dict[str, str] = {}
        secured: list[str] = []
        for variable in self.list(session, repository_id):
            if variable.secured:
                env[variable.name] = self.box.decrypt(variable.value)
                secured.append(variable.name)
            else:
                env[variable.name] = variable.value
        return env, tuple(secured)
