"""A fixed number of worker threads, each claiming step attempts and running them."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from shipline.errors import ShiplineError
from shipline.run.executor import Executor
from shipline.worker.protocol import WorkerClient
from shipline.worker.runner import StepJobRunner

logger = logging.getLogger(__name__)


class WorkerPool:
    """`size` threads named `name-1`, `name-2`…; each runs one step at a time."""

    def __init__(
        self,
        client: WorkerClient,
        executor: Executor,
        *,
        name: str,
        size: int,
        work_root: Path,
        cache_root: Path,
    ) -> None:
        self.client = client
        self.runner = StepJobRunner(client, executor, work_root, cache_root)
        self.name = name
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(f"{name}-{i}",), name=f"worker-{i}")
            for i in range(1, max(1, size) + 1)
        ]
        for thread in self._threads:
            thread.daemon = True

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, wait_seconds: float = 5.0) -> None:
        """No new claims; waits a little for idle threads (a running step goes on, on its
        daemon thread, and its lease tells the server if it never reports)."""
        self._stop.set()
        deadline = time.monotonic() + wait_seconds
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self, worker: str) -> None:
        while not self._stop.is_set():
            try:
                job = self.client.claim(worker, wait_seconds=1.0)
            except ShiplineError as exc:
                logger.warning("%s could not claim a job: %s", worker, exc)
                self._stop.wait(1.0)
                continue
            if job is not None and not self._stop.is_set():
                self.runner.run(job)
