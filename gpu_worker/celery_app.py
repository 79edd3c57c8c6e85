"""The Celery app of the GPU workers: the shared contract settings, the broker from the environment, no Flask.

Run a GPU worker with `celery -A gpu_worker.tasks worker -Q gpu --pool prefork -c 1` (one child per GPU). The parent
process never imports torch: the engine and its model caches load lazily in the child on its first task (a
`worker_process_init` handler has only 4 s, and CUDA cannot be re-initialised in a forked child).
"""

from __future__ import annotations

from celery import Celery

from gpu_worker.contract import broker_url_from_env, celery_settings

app = Celery("pose_studio_gpu")
app.conf.update(celery_settings(broker_url_from_env()))
