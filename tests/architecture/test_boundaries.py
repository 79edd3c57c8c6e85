"""The stated boundaries between the deployables, checked in a fresh interpreter (sys.modules after the import).

`plugin` never imports torch, mediapipe, OpenCV or diffusers: the web app and its shopify-queue workers run on
machines without them. A GPU worker never loads Flask, SQLAlchemy or `plugin`: it reads its jobs from storage and
talks to the web side only through Celery task names (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from cryptography.fernet import Fernet

from tests.architecture.imports import ROOT

HEAVY = ("torch", "mediapipe", "cv2", "diffusers")


def loaded_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running `code`."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)  # fmt: skip  # noqa: S603 - our own interpreter and code
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_web_app_and_its_tasks_load_no_heavy_library(app_config: dict[str, Any]) -> None:
    config = {**app_config, "POSE_STUDIO_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    loaded = loaded_after(
        "import plugin\n"
        "from plugin import create_app\n"
        f"app = create_app(__import__('json').loads({json.dumps(config)!r}))\n"
        "import plugin.tasks\n"
    )
    assert "plugin" in loaded and "flask" in loaded  # the probe did load the app
    assert not loaded & set(HEAVY), f"plugin loaded {sorted(loaded & set(HEAVY))}"


def test_a_gpu_worker_loads_no_part_of_the_web_app(tmp_path: Any, redis_url: str) -> None:
    """`pose-studio worker --queues gpu` up to Celery's own loop: the command root, the worker command, metrics,
    logging, the GPU worker's Celery app and its tasks; never Flask, SQLAlchemy or `plugin`."""
    loaded = loaded_after(
        "import os\n"
        f"os.environ.update(CELERY_BROKER_URL={redis_url!r}, PROMETHEUS_MULTIPROC_DIR={str(tmp_path)!r})\n"
        "from pose_studio.cli import main  # the `pose-studio` entry point\n"
        "from pose_studio.cli import COMMANDS\n"
        "import importlib\n"
        "module, _ = COMMANDS['worker'].split(':')\n"
        "importlib.import_module(module).prepare_worker('gpu', metrics_port=0, loglevel='WARNING')\n"
    )
    assert {"pose_studio", "gpu_worker", "celery", "prometheus_client"} <= loaded  # the probe did prepare one
    web = loaded & {"flask", "sqlalchemy", "plugin"}
    assert not web, f"the GPU worker loaded {sorted(web)}"
