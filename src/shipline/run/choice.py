"""Pick the executor for each step: Docker when an engine answers and the step has an image."""

from __future__ import annotations

from shipline.errors import ExecutorError
from shipline.plan import Plan, StepSpec
from shipline.run.executor import Executor, OutputSink, RunningStep, StepJob
from shipline.run.shell import ShellExecutor

EXECUTOR_NAMES = ("auto", "docker", "shell")


class PerStepExecutor:
    """Sends steps with an image to Docker and the rest to the shell executor."""

    name = "auto"

    def __init__(self, docker: Executor | None, shell: ShellExecutor) -> None:
        self.docker = docker
        self.shell = shell

    def executor_for(self, step: StepSpec) -> Executor:
        if self.docker is not None and step.image is not None:
            return self.docker
        return self.shell

    def preflight(self, plan: Plan) -> list[str]:
        if self.docker is None:
            notes = []
            if any(step.image for step in plan.steps()):
                notes.append("no Docker engine answers: every step runs on this machine's shell")
            return notes + self.shell.preflight(plan)
        notes = [n for n in self.docker.preflight(plan) if "names no image" not in n]
        steps = list(plan.steps())
        on_shell = [step for step in steps if step.image is None]
        if on_shell and len(on_shell) == len(steps):
            notes.append("no step names an image: every step runs on this machine's shell")
        else:
            notes += [
                f"step '{s.name}' names no image: it runs on this machine's shell" for s in on_shell
            ]
        return notes

    def mounts_absolute_paths(self, step: StepSpec) -> bool:
        return self.executor_for(step).mounts_absolute_paths(step)

    def prepare(self, job: StepJob) -> None:
        self.executor_for(job.step).prepare(job)

    def start(self, job: StepJob, output: OutputSink) -> RunningStep:
        return self.executor_for(job.step).start(job, output)

    def destroy(self, job: StepJob) -> None:
        self.executor_for(job.step).destroy(job)


def choose_executor(name: str, *, host_daemon: bool = False) -> tuple[Executor, list[str]]:
    """Build the executor `--executor NAME` asks for; notes explain any fallback.

    `host_daemon`: steps using the docker service get this machine's daemon (trusted only).

    Raises ExecutorError when `docker` is asked for and no engine answers.
    """
    if name not in EXECUTOR_NAMES:
        raise ExecutorError(f"unknown executor '{name}'; choose one of {', '.join(EXECUTOR_NAMES)}")
    shell = ShellExecutor()
    if name == "shell":
        return shell, []
    from shipline.run.docker import DockerExecutor  # the Docker SDK loads only when needed

    try:
        docker = DockerExecutor(host_daemon_for_docker=host_daemon)
    except ExecutorError as exc:
        if name == "docker":
            raise
        return PerStepExecutor(None, shell), [f"{exc}; falling back to the shell executor"]
    notes = (
        [f"removed leftovers of an interrupted run: {', '.join(docker.swept)}"]
        if docker.swept
        else []
    )
    if name == "docker":
        return docker, notes
    return PerStepExecutor(docker, shell), notes
