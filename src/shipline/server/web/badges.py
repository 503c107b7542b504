"""Status badges: a small SVG per repository and branch, public (for READMEs)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from shipline.server.state import StateDep
from shipline.store.models import Pipeline, Repository

router = APIRouter(include_in_schema=False)
COLOURS = {"passed": "#1f845a", "failed": "#c9372c", "running": "#0c66e4", "paused": "#b65c02"}
CHAR_WIDTH = 6.5  # Verdana 11px, near enough for a badge


def badge_svg(label: str, value: str, colour: str) -> str:
    left, right = int(len(label) * CHAR_WIDTH + 12), int(len(value) * CHAR_WIDTH + 12)
    width = left + right
    label, value = escape(label), escape(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{label}: {value}"><title>{label}: {value}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{label}</text>'
        f'<text x="{left + right / 2}" y="14">{value}</text></g></svg>'
    )


@router.get("/badges/{repo}/{branch:path}")
def badge(repo: str, branch: str, state: StateDep) -> Response:
    """`/badges/webshop/main.svg`: the latest pipeline of that branch. No sign-in needed."""
    branch = branch.removesuffix(".svg")
    with state.db.session() as session:
        status = session.scalar(
            select(Pipeline.status)
            .join(Repository, Repository.id == Pipeline.repository_id)
            .where(Repository.name == repo, Pipeline.ref_name == branch)
            .order_by(Pipeline.build_number.desc())
            .limit(1)
        )
    value = status or "unknown"
    svg = badge_svg("pipeline", value, COLOURS.get(value, "#8590a2"))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})
