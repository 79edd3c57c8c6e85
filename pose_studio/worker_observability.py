"""Observability of a Celery worker process, either side: task context (job id) on every log line, task metrics,
GPU memory, and the removal of a dead child's live gauges. Neutral: no Flask, no database."""

from __future__ import annotations

import os
import time
from typing import Any

from pose_studio import metrics
from pose_studio.logging import bind_log_context, clear_log_context

_worker_hooks_connected = False


def init_worker_observability() -> None:
    """Connect Celery signals once per process (`pose-studio worker` calls it; so can any other worker entry)."""
    global _worker_hooks_connected
    if _worker_hooks_connected:
        return
    _worker_hooks_connected = True
    from celery import signals

    started: dict[str, float] = {}

    @signals.task_prerun.connect(weak=False)
    def _prerun(task_id: str | None = None, task: Any = None, kwargs: dict[str, Any] | None = None,
                **_: Any) -> None:  # fmt: skip
        started[task_id or ""] = time.perf_counter()
        clear_log_context()
        job_id = (kwargs or {}).get("job_id")
        bind_log_context(task=getattr(task, "name", None), task_id=task_id, job_id=job_id)

    @signals.task_postrun.connect(weak=False)
    def _postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
        start = started.pop(task_id or "", None)
        if start is not None:
            metrics.observe_task(getattr(task, "name", "unknown"), (state or "unknown").lower(),
                                 time.perf_counter() - start)  # fmt: skip
        metrics.sample_gpu_memory()
        clear_log_context()

    @signals.worker_process_shutdown.connect(weak=False)
    def _child_exit(pid: int | None = None, **_: Any) -> None:
        metrics.mark_process_dead(pid or os.getpid())
