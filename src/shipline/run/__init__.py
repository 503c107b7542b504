"""run: executors (shell, fake; docker next) and host-side workspace, artifact and cache work."""

from shipline.run.executor import Executor, OutputSink, RunningStep, StepJob, StepOutcome

__all__ = ["Executor", "OutputSink", "RunningStep", "StepJob", "StepOutcome"]
