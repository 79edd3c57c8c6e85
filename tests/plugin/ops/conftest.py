"""Fixtures of the ops tests: the root `app` with storage in a temp dir and observability bound."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    path = tmp_path / "storage"
    path.mkdir()
    return path


@pytest.fixture
def app_config(app_config: dict[str, Any], storage_dir: Path) -> dict[str, Any]:
    return {**app_config, "POSE_STUDIO_STORAGE_URL": storage_dir.as_uri()}


@pytest.fixture
def app(app: Any) -> Any:
    # create_app calls init_observability once the core wires it in; calling it again is a no-op.
    from plugin.observability import init_observability

    init_observability(app)
    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
