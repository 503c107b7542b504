"""`- pipe:` items: run the pipe's image on the step's Docker daemon, as Bitbucket does.

A pipe is a container started from the step (through the docker CLI and the daemon the step
has) with the workspace mounted at the same path, the BITBUCKET_* variables passed through and
the pipe's `variables` as its environment. List values become NAME_COUNT, NAME_0, NAME_1...
as Atlassian documents. Values are expanded by the step's shell, so `$SECRET` works.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from shipline.errors import ExecutorError
from shipline.plan import PipeCall

PIPE_STORAGE_IN_STEP = (
    "/opt/atlassian/pipelines/agent/build/.bitbucket/pipelines/generated/pipeline/pipes"
)


def pipe_image(pipe: str) -> str:
    """The Docker image behind a pipe reference."""
    if pipe.startswith("docker://"):
        return pipe.removeprefix("docker://")
    owner, _, rest = pipe.partition("/")
    if owner == "atlassian" and rest:
        return f"bitbucketpipelines/{rest}"
    raise ExecutorError(
        f"pipe '{pipe}': only Atlassian pipes (atlassian/NAME:VERSION) and docker://IMAGE "
        "references can be resolved without Bitbucket; write 'pipe: docker://IMAGE:TAG'"
    )


def _shell_value(value: str) -> str:
    """Double-quote for sh, keeping $VAR expansion as Bitbucket does for pipe variables."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
    return f'"{escaped}"'


def pipe_environment(pipe: PipeCall) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in pipe.variables:
        if isinstance(value, tuple):
            pairs.append((f"{name}_COUNT", str(len(value))))
            pairs.extend((f"{name}_{index}", item) for index, item in enumerate(value))
        else:
            pairs.append((name, value))
    return pairs


def render_pipe(
    pipe: PipeCall, host_clone_dir: Path, clone_dir_in_step: str, passthrough: list[str]
) -> str:
    """Shell lines that run the pipe from inside the step and fail the step when it fails."""
    image = pipe_image(pipe.pipe)
    args = [
        "docker",
        "run",
        "--rm",
        f"--volume={host_clone_dir}:{clone_dir_in_step}",
        f"--workdir={clone_dir_in_step}",
        "--env=BITBUCKET_PIPE_STORAGE_DIR=" + PIPE_STORAGE_IN_STEP,
    ]
    words = [shlex.quote(a) for a in args]
    words += [f"--env={shlex.quote(name)}" for name in passthrough]
    words += [
        f"--env={shlex.quote(name)}={_shell_value(value)}" for name, value in pipe_environment(pipe)
    ]
    words.append(shlex.quote(image))
    return " ".join(words)
