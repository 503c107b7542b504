"""The shell executor: runs each step with the host's bash, in the step's fresh workspace."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from shipline.errors import ExecutorError
from shipline.plan import PipeCall, Plan, StepSpec
from shipline.run.executor import OutputSink, StepJob, StepOutcome
from shipline.run.process import SupervisedProcess
from shipline.run.script import render_script, render_wrapper

# Host variables a step inherits; everything else comes from the pipeline (as in a container).
INHERITED_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "USER", "LOGNAME")


def _read_code(path: os.PathLike[str] | str) -> int | None:
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


@dataclass
class ShellStep:
    job: StepJob
    process: SupervisedProcess
    output: OutputSink

    @property
    def ident(self) -> str:
        return f"pid:{self.process.pid}"

    def wait(self) -> StepOutcome:
        result = self.process.wait(self.output, self.job.max_seconds)
        meta = self.job.dirs.meta
        exit_code = _read_code(meta / "exit-code")
        after = _read_code(meta / "after-exit-code") if self.job.step.after_script else None
        if exit_code is None:  # killed before the script finished
            exit_code = result.returncode if result.returncode >= 0 else 128 - result.returncode
        return StepOutcome(
            exit_code=exit_code,
            after_script_exit_code=after,
            timed_out=result.timed_out,
            cancelled=result.cancelled,
        )

    def cancel(self) -> None:
        self.process.cancel()


def kill_leftover_steps(root: Path) -> list[int]:
    """Kill what steps under `root` left running when their supervisor died.

    Two nets: the process groups steps recorded (`meta/pgid`), while their leader still works
    inside that step's workspace — so a pid reused after a reboot is never touched — and any
    process whose working directory lies under `root`, which only steps ever use.
    """
    targets: set[int] = set()
    for pgid_file in root.glob("**/meta/pgid"):
        try:
            pgid = int(pgid_file.read_text().strip())
            cwd = Path(os.readlink(f"/proc/{pgid}/cwd"))
        except (OSError, ValueError):
            continue
        if cwd.is_relative_to(pgid_file.parent.parent):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
                targets.add(pgid)
    resolved = root.resolve()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if Path(os.readlink(entry / "cwd")).is_relative_to(resolved):
                os.kill(int(entry.name), signal.SIGKILL)
                targets.add(int(entry.name))
        except (OSError, ValueError):
            continue
    return sorted(targets)


class ShellExecutor:
    """Steps run as host processes; `image` and services are the Docker executor's job."""

    name = "shell"

    def __init__(self) -> None:
        self.bash = shutil.which("bash") or "/bin/bash"

    def preflight(self, plan: Plan) -> list[str]:
        notes: list[str] = []
        images = sorted({s.image.name for s in plan.steps() if s.image})
        if images:
            notes.append(
                "shell executor: steps run on this machine's shell; image(s) "
                f"{', '.join(images)} are ignored (use --executor docker to run in them)"
            )
        for step in plan.steps():
            services = [s.name for s in step.services if s.type != "docker"]
            if services:
                notes.append(
                    f"shell executor: step '{step.name}' asks for service(s) "
                    f"{', '.join(services)}, which cannot start without Docker"
                )
            if step.docker:
                notes.append(
                    f"shell executor: step '{step.name}' uses the docker service; "
                    "its docker commands reach this machine's Docker daemon, if any"
                )
            if any(isinstance(e, PipeCall) for e in (*step.script, *step.after_script)):
                notes.append(
                    f"shell executor: step '{step.name}' runs a pipe, which needs Docker; "
                    "that command will fail"
                )
            if step.oidc:
                notes.append(
                    f"step '{step.name}' asks for an OIDC token, which a local run cannot issue"
                )
        return notes

    def mounts_absolute_paths(self, step: StepSpec) -> bool:
        return False  # an absolute cache path would be the host's own directory

    def prepare(self, job: StepJob) -> None:
        meta = job.dirs.meta
        (meta / "script.sh").write_text(render_script(job.step.script))
        after = None
        if job.step.after_script:
            # Like Bitbucket: after-script commands run until one fails.
            (meta / "after-script.sh").write_text(render_script(job.step.after_script))
            after = str(meta / "after-script.sh")
        (meta / "wrapper.sh").write_text(
            render_wrapper(str(meta / "script.sh"), after, str(meta), self.bash)
        )

    def start(self, job: StepJob, output: OutputSink) -> ShellStep:
        env = {k: os.environ[k] for k in INHERITED_VARIABLES if k in os.environ}
        env.update(job.env)
        env.update(
            HOME=str(job.dirs.home),
            TMPDIR=str(job.dirs.tmp),
            BITBUCKET_CLONE_DIR=str(job.dirs.clone),
        )
        try:
            process = SupervisedProcess(
                [self.bash, str(job.dirs.meta / "wrapper.sh")], job.dirs.clone, env
            )
        except OSError as exc:
            raise ExecutorError(f"cannot start {self.bash}: {exc}") from exc
        # Lets whoever restarts after a crash find (and end) what this step left running.
        (job.dirs.meta / "pgid").write_text(str(process.pid))
        return ShellStep(job, process, output)

    def destroy(self, job: StepJob) -> None:
        """Nothing outlives the step's process group; the engine removes the workspace."""
