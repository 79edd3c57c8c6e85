"""Benchmark: N SKUs through the whole pipeline (webhook → job → GPU worker → publish → READY media) on the emulator.

    .venv/bin/python -m bench.pipeline --skus 1000 --poses 1 --size 256

Starts its own pieces: a scratch PostgreSQL database (TEST_DATABASE_URL's server), a throwaway redis-server (for a
clean peak-memory figure), the Shopify emulator ("standard" plan: 100 points/s), the web app in its own process, one
GPU worker (`celery -A gpu_worker.tasks worker -Q gpu --pool prefork -c 1`, warp backend) and one shopify worker
(`pose-studio worker -Q shopify -c 2`). Every SKU gets a products/create webhook (automation on, auto mode).

Prints: SKUs/min, GraphQL requests and cost per SKU, THROTTLED answers, end-to-end p50/p95 from webhook sent to the
job's media READY on the product (the write-back waits for READY before the job is `published`), peak RSS of the web
process, the workers (each process tree) and Redis.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from bench.stack import Worker, create_scratch_database, drop_scratch_database, make_workers, stack_env  # noqa: E402

# The app and the emulator share these; any pair works (the emulator signs with what it is given).
API_KEY = "bench-api-key-0123456789abcdef"
API_SECRET = "bench-api-secret-0123456789abcdef0123456789"

WEB_SERVER = """
import sys
from werkzeug.serving import make_server
from plugin import create_app
app = create_app()
server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
print("ready", flush=True)
server.serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_peak_rss_mb(pid: int) -> float:
    """VmHWM (peak RSS) of a process plus its children, MB."""
    def hwm(p: int) -> int:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return 0
        return 0

    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return (hwm(pid) + sum(hwm(int(c)) for c in children)) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skus", type=int, default=1000)
    ap.add_argument("--poses", type=int, default=1, help="poses per SKU (from catalog-basics)")
    ap.add_argument("--size", type=int, default=256, help="max image side")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()

    from plugin import create_app
    from plugin.extensions import db
    from plugin.models.job import Job, JobState
    from plugin.services.pose_sets import create_custom_set
    from plugin.services.settings import update_settings
    from plugin.shopify.token_store import TokenPair, store_token_pair
    from shopify_emulator import ShopifyEmulator
    from shopify_emulator.store import product_rest_payload

    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    (tmp / "prom").mkdir()
    base_db = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    database_url = create_scratch_database(base_db, prefix="pose_studio_bench")
    from plugin.schema import upgrade

    upgrade(database_url)
    redis_port = free_port()
    redis_proc = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)  # fmt: skip
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    emu = ShopifyEmulator(API_KEY, API_SECRET, media_ready_delay=0.3, webhook_retry_delays=(0.2, 0.5, 1.0))
    emu.start()
    key = Fernet.generate_key().decode()
    env = stack_env(dict(os.environ), api_key=API_KEY, api_secret=API_SECRET, redis_url=redis_url,
                    database_url=database_url, storage=tmp / "storage", emulator_origin=emu.origin,
                    encryption_key=key)  # fmt: skip
    env["POSE_STUDIO_VISIBILITY_TIMEOUT"] = "600"
    web_port = free_port()
    web_log = open(tmp / "web.log", "wb")  # noqa: SIM115
    web = subprocess.Popen([sys.executable, "-c", WEB_SERVER, str(web_port)], env=env, cwd=ROOT, stdout=web_log,
                           stderr=subprocess.STDOUT)  # fmt: skip
    emu.webhook_url = f"http://127.0.0.1:{web_port}/webhooks"
    workers: dict[str, Worker] = make_workers(env, tmp)
    for w in workers.values():
        w.start()
    app = create_app({"POSE_STUDIO_ENV": "test", "SHOPIFY_API_KEY": API_KEY, "SHOPIFY_API_SECRET": API_SECRET,
                      "DATABASE_URL": database_url, "REDIS_URL": redis_url, "POSE_STUDIO_ENCRYPTION_KEYS": key,
                      "SHOPIFY_ADMIN_ORIGIN": emu.origin, "POSE_STUDIO_STORAGE_URL": (tmp / "storage").as_uri()})
    try:
        for w in workers.values():
            w.wait_ready(120)
        for _ in range(100):
            if b"ready" in (tmp / "web.log").read_bytes():
                break
            time.sleep(0.2)
        # 1. the shop: N products, automation on, auto mode, a pose set of --poses poses
        domain = "bench.myshopify.com"
        emu_shop = emu.add_shop(domain, seed_products=False)
        products = emu.add_products(domain, args.skus)
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        with app.app_context():
            from plugin.models.shop import Shop

            token = emu.issue_access_token(domain, expires_in=86400)
            pair = TokenPair(token, now + timedelta(days=1), "shprt_bench", now + timedelta(days=90), "read_products")
            shop_id = store_token_pair(domain, pair)
            shop = db.session.get(Shop, shop_id)
            poses = ["front-relaxed", "hand-on-hip", "walking-stride", "hands-on-hips", "weight-shift"][: args.poses]
            pose_set = create_custom_set(shop, "bench", [f"catalog-basics/{p}" for p in poses])
            update_settings(shop, {"automation": "new_and_changed", "mode": "auto", "max_size": args.size,
                                   "backend": "warp", "default_pose_set": pose_set.set_id, "daily_limit": 100_000})
        emu.stats.reset()
        # 2. one products/create per SKU, 8 at a time (Shopify sends many in parallel)
        sent: dict[str, float] = {}

        def send(p: Any) -> None:
            sent[p.gid] = time.time()
            emu.send_webhook("products/create", domain, product_rest_payload(emu_shop, p, emu.origin))

        t0 = time.time()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, products))
        webhooks_s = time.time() - t0
        # 3. wait until every SKU is published (or failed)
        done: dict[str, tuple[str, float]] = {}
        deadline = time.time() + args.timeout
        # pool children are recycled (worker_max_tasks_per_child): sample each tree's peak while it runs
        peaks = {"web": 0.0, "gpu": 0.0, "shopify": 0.0}
        while time.time() < deadline and len(done) < args.skus:
            time.sleep(2)
            for name, pid in (("web", web.pid), ("gpu", workers["gpu"].proc.pid),
                              ("shopify", workers["shopify"].proc.pid)):
                peaks[name] = max(peaks[name], tree_peak_rss_mb(pid))
            with app.app_context():
                for j in db.session.scalars(db.select(Job).where(Job.shop_id == shop_id, Job.state.in_(
                        [JobState.PUBLISHED, JobState.FAILED, JobState.AWAITING_REVIEW]))):
                    if j.product_id not in done:
                        finished = j.finished_at.timestamp() if j.finished_at else time.time()
                        done[j.product_id] = (j.state.value, finished)
            print(f"  {len(done)}/{args.skus} done after {time.time() - t0:.0f} s", flush=True)
        wall = time.time() - t0
        # 4. figures
        latencies = sorted(finished - sent[pid] for pid, (_, finished) in done.items() if pid in sent)
        states: dict[str, int] = {}
        for state, _ in done.values():
            states[state] = states.get(state, 0) + 1
        import redis as redis_lib

        info = redis_lib.Redis.from_url(redis_url).info("memory")
        n = max(1, len(done))
        figures = {
            "skus": args.skus, "poses_per_sku": args.poses, "max_size": args.size, "finished": len(done),
            "states": states, "wall_s": round(wall, 1), "webhooks_sent_s": round(webhooks_s, 1),
            "skus_per_min": round(60 * len(done) / wall, 1),
            "graphql_requests_per_sku": round(emu.stats.graphql_requests / n, 2),
            "graphql_cost_per_sku": round(emu.stats.graphql_cost / n, 1),
            "graphql_requested_cost_per_sku": round(emu.stats.requested_cost / n, 1),
            "throttled_answers": emu.stats.throttled, "http_429": emu.stats.http_429,
            "operations": dict(emu.stats.operations),
            "latency_p50_s": round(statistics.median(latencies), 1) if latencies else None,
            "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
            "peak_rss_web_mb": round(peaks["web"], 1),
            "peak_rss_gpu_worker_mb": round(peaks["gpu"], 1),  # parent + pool child
            "peak_rss_shopify_worker_mb": round(peaks["shopify"], 1),  # parent + 2 children
            "redis_used_memory_peak_mb": round(info["used_memory_peak"] / 2**20, 2),
        }  # fmt: skip
        print(json.dumps(figures, indent=2))
    finally:
        for w in workers.values():
            w.stop()
        web.terminate()
        web.wait(10)
        emu.stop()
        redis_proc.terminate()
        redis_proc.wait(10)
        with app.app_context():
            db.engine.dispose()
        drop_scratch_database(database_url, base_db)


if __name__ == "__main__":
    main()
