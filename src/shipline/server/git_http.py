"""Smart-HTTP git hosting at /git/<repo>.git, served by `git http-backend` (CGI).

Reading needs the viewer role, pushing the developer role; the token is the basic-auth
password (any user name), so `git clone http://HOST/git/app.git` asks for it as usual.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from shipline.server.auth import authenticate
from shipline.server.state import StateDep
from shipline.store.models import Role

router = APIRouter()
logger = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="Shipline git"'}


def _is_push(path: str, service: str | None) -> bool:
    return path == "git-receive-pack" or service == "git-receive-pack"


@router.api_route("/git/{name}.git/{path:path}", methods=["GET", "POST"], include_in_schema=False)
async def git_http(name: str, path: str, request: Request, state: StateDep) -> Response:
    repo_dir = state.settings.repos_dir / f"{name}.git"
    if not _NAME.match(name) or not repo_dir.is_dir():
        return Response(f"no repository '{name}'\n", status_code=404, media_type="text/plain")
    caller = await asyncio.to_thread(authenticate, state, request.headers.get("authorization"))
    if caller is None:
        return Response(
            "authentication required: use an API token as the password\n",
            status_code=401,
            headers=_CHALLENGE,
            media_type="text/plain",
        )
    needed = Role.DEVELOPER if _is_push(path, request.query_params.get("service")) else Role.VIEWER
    if not caller.role.allows(needed):
        return Response(
            f"pushing needs the {needed.value} role\n", status_code=403, media_type="text/plain"
        )
    env = {
        "GIT_PROJECT_ROOT": str(state.settings.repos_dir),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{name}.git/{path}",
        "QUERY_STRING": request.url.query,
        "REQUEST_METHOD": request.method,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "REMOTE_USER": caller.name,
        "REMOTE_ADDR": request.client.host if request.client else "",
        "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        # For the post-receive hook, which reports the pushed refs back to this server.
        "SHIPLINE_REPO": name,
        # Hooks run on this machine: loopback reaches the server whatever address it binds.
        "SHIPLINE_HOOK_PORT": str(state.settings.port),
        "SHIPLINE_HOOK_SECRET": state.hook_secret,
    }
    if encoding := request.headers.get("content-encoding"):
        env["HTTP_CONTENT_ENCODING"] = encoding
    if protocol := request.headers.get("git-protocol"):
        env["GIT_PROTOCOL"] = protocol
    process = await asyncio.create_subprocess_exec(
        "git",
        "http-backend",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    complaints = asyncio.create_task(_log_stderr(process.stderr, name))
    # The whole body goes in before the answer is read: http-backend spools a request itself
    # (GIT_HTTP_MAX_REQUEST_BUFFER) before it runs the service, so this cannot deadlock.
    await _feed(request, process.stdin)
    status_code, headers = await _read_cgi_headers(process.stdout)

    async def body() -> AsyncIterator[bytes]:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            yield chunk
        await complaints
        await process.wait()

    return StreamingResponse(body(), status_code=status_code, headers=headers)


async def _feed(request: Request, stdin: asyncio.StreamWriter) -> None:
    """Stream the request body into the backend; the pack may be large, so never whole."""
    try:
        async for chunk in request.stream():
            if chunk:
                stdin.write(chunk)
                await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the backend answered without reading everything; its answer says why
    finally:
        stdin.close()


async def _log_stderr(stderr: asyncio.StreamReader | None, name: str) -> None:
    """Drain the backend's stderr (a full pipe would stall it) and keep what it said."""
    if stderr is None:
        return
    said = (await stderr.read()).decode(errors="replace").strip()
    if said:
        logger.warning("git http-backend for %s: %s", name, said[:4000])


async def _read_cgi_headers(stdout: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_code = 200
    headers: dict[str, str] = {}
    while True:
        line = (await stdout.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            return status_code, headers
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status_code = int(value.strip().split()[0])
        else:
            headers[key.strip()] = value.strip()
