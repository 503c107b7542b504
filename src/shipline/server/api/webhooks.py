"""POST /hooks/<forge>/<repo>: push webhooks from GitHub, GitLab, Bitbucket Cloud and Gitea.

No API token here: the forge proves itself with the repository's webhook secret (an HMAC
signature, or GitLab's token header). A wrong or missing signature is a 401 and nothing is
recorded; a delivery id seen before is answered 200 and starts nothing new — unless handling it
fetched nothing (no remote URL, the fetch failed), when the redelivery is handled again.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shipline.server.forges import FORGES, WebhookError, forge_named
from shipline.server.lookups import find_repository
from shipline.server.state import ServerState, StateDep
from shipline.server.webhooks import fetched_nothing
from shipline.store.models import WebhookDelivery

router = APIRouter(tags=["webhooks"])
MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


@router.post("/hooks/{forge}/{repo}", status_code=status.HTTP_202_ACCEPTED)
async def receive_webhook(forge: str, repo: str, request: Request, state: StateDep) -> JSONResponse:
    """A forge's push event; answered at once, the commits are fetched in the background."""
    dialect = forge_named(forge)
    if dialect is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no forge '{forge}'; one of: {', '.join(sorted(FORGES))}"
        )
    with state.db.session() as session:
        repository = find_repository(session, repo)
        repository_id, sealed = repository.id, repository.webhook_secret
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "payload over 25 MB")
    headers = {k.lower(): v for k, v in request.headers.items()}
    secret = state.box.decrypt(sealed) if sealed else ""
    if not dialect.verify(headers, body, secret):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"the {dialect.title} signature does not match this repository's webhook secret",
        )
    try:
        event = dialect.parse(headers, body)
    except WebhookError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    if event.kind != "push":
        return JSONResponse({"status": event.kind, "note": event.note}, status.HTTP_200_OK)
    delivery: int | None = None
    if event.delivery_id:
        try:
            with state.db.session() as session:
                row = WebhookDelivery(
                    repository_id=repository_id, forge=dialect.name, delivery_id=event.delivery_id
                )
                session.add(row)
                session.flush()
                delivery = row.id
        except IntegrityError:
            delivery = _retry_of_failed(state, repository_id, dialect.name, event.delivery_id)
            if delivery is None:
                return JSONResponse(
                    {"status": "duplicate", "note": f"delivery {event.delivery_id} was handled"},
                    status.HTTP_200_OK,
                )
    assert state.webhooks is not None
    state.webhooks.submit(repository_id, event, delivery)
    return JSONResponse(
        {"status": "accepted", "delivery": event.delivery_id, "refs": [r.ref for r in event.refs]},
        status.HTTP_202_ACCEPTED,
    )


def _retry_of_failed(
    state: ServerState, repository_id: int, forge: str, delivery_id: str
) -> int | None:
    """The recorded delivery's row id, taken for another attempt, if handling it fetched
    nothing; None when it is still being handled or was handled (a true duplicate)."""
    with state.db.session() as session:
        found = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.outcome).where(
                WebhookDelivery.repository_id == repository_id,
                WebhookDelivery.forge == forge,
                WebhookDelivery.delivery_id == delivery_id,
            )
        ).first()
        if found is None or not fetched_nothing(found.outcome):
            return None
        # Compare and set: of two redeliveries arriving together, one takes it.
        taken = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == found.id, WebhookDelivery.outcome == found.outcome)
            .values(outcome="")
        )
        return found.id if taken.rowcount else None  # type: ignore[attr-defined]
