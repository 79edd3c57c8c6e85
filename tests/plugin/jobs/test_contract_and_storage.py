"""The shared contract (time limits, Celery settings, payloads) and the storage both sides use."""

from __future__ import annotations

import pytest

from gpu_worker import contract
from gpu_worker.storage import KeyMissing, LocalStorage, check_key, keys, storage_from_url


@pytest.mark.parametrize("visibility", [20, 30, 600, 3600, 43200])
def test_time_limits_stay_below_the_visibility_timeout(visibility: int) -> None:
    limits = contract.TimeLimits.from_visibility_timeout(visibility)
    assert 0 < limits.soft < limits.hard < limits.visibility_timeout


def test_celery_settings_set_the_visibility_timeout_everywhere_and_route_by_name() -> None:
    s = contract.celery_settings("redis://x/0", limits=contract.TimeLimits.from_visibility_timeout(900))
    assert s["broker_transport_options"]["visibility_timeout"] == 900
    assert s["result_backend_transport_options"]["visibility_timeout"] == 900
    assert s["task_time_limit"] < 900 and s["task_soft_time_limit"] < s["task_time_limit"]
    assert s["task_acks_late"] and s["task_reject_on_worker_lost"] and s["worker_prefetch_multiplier"] == 1
    assert s["worker_cancel_long_running_tasks_on_connection_loss"] and s["worker_soft_shutdown_timeout"] > 0
    assert s["task_routes"][contract.TaskName.GENERATE]["queue"] == contract.GPU_QUEUE
    assert s["task_routes"][contract.TaskName.GENERATION_DONE]["queue"] == contract.SHOPIFY_QUEUE


def test_payloads_round_trip_and_ignore_unknown_keys() -> None:
    done = contract.GenerationDone(job_id=3, manifest_key="a/jobs/3/result-main.json",
                                   spec_key="a/jobs/3/spec-main.json")
    assert contract.GenerationDone.from_kwargs({**done.to_kwargs(), "added_in_v2": 1}) == done


def test_contract_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = ("import sys, gpu_worker.contract, gpu_worker.storage; "
            "bad = [m for m in ('flask', 'torch', 'mediapipe', 'celery', 'numpy', 'plugin') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_local_storage_round_trip_list_and_delete_prefix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = storage_from_url(tmp_path.as_uri())
    assert isinstance(store, LocalStorage)
    a, b = keys.source("a.myshopify.com", "ff" * 32), keys.output("a.myshopify.com", 7, "front", 0)
    other = keys.source("b.myshopify.com", "ee" * 32)
    for k in (a, b, other):
        store.put(k, b"x")
    assert store.get(a) == b"x" and store.exists(b)
    assert store.list("a.myshopify.com") == sorted([a, b])
    assert store.delete_prefix(keys.shop_prefix("a.myshopify.com")) == 2
    assert store.list("a.myshopify.com") == [] and store.exists(other)
    with pytest.raises(KeyMissing):
        store.get(a)


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "a//b", "a/.hidden", "a\\b", "a/b c"])
def test_storage_keys_are_relative_safe_paths(bad: str) -> None:
    with pytest.raises(ValueError):
        check_key(bad)


def test_deterministic_keys() -> None:
    spec = keys.spec("s.myshopify.com", 5, "main")
    assert keys.manifest_for_spec(spec) == "s.myshopify.com/jobs/5/result-main.json"
    assert keys.output("s.myshopify.com", 5, "front", 3) == "s.myshopify.com/jobs/5/front-3.png"
