"""Load suite: `pose-studio serve` (gunicorn) on loopback against a fresh PostgreSQL database and its own Redis DB.

    .venv/bin/python -m bench.load.run [--deliveries 2000 --rate 200 --merchants 50 --polls 20 --json out.json]

1. webhooks: N signed `products/update` deliveries paced at R/s (open loop: a slow answer does not slow the
   sender), 10 % re-sends of an earlier event id (Shopify's duplicate), 5 % bad HMAC. Checks: every accepted
   event recorded exactly once in webhook_deliveries, exactly one follow-up task enqueued per recorded event
   (none twice), every bad one answered 401 and recorded nowhere.
2. polling: M merchants at once, each GET /api/jobs P times with its own ID token (what an open Jobs page does).
3. RSS of the gunicorn master and every worker before and after.

Exit 0 only when nothing was lost, recorded or enqueued twice, every forged one refused, AND the goal was met
(webhooks at --rate with p99 < --goal-p99-ms, polling p99 < --goal-poll-p99-ms). The client is asyncio
(bench/load/http_client.py) so that it takes little of the CPU it shares with the server.

Bounded: loopback only, a fixed count, a deadline per phase. Needs PostgreSQL (TEST_DATABASE_URL) and Redis
(TEST_REDIS_URL) like the tests; the database is created and dropped, the Redis DB is claimed and flushed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import psutil
import redis
import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.load.http_client import Request, send_concurrently, send_paced

REPO = Path(__file__).resolve().parents[2]
API_KEY = "load-api-key-0123456789abcdef"
API_SECRET = "load-api-secret-" + "0123456789abcdef" * 2
CLAIM_KEY = "pose_studio:load_suite_claim"


# --- services ------------------------------------------------------------------------------------------------


def scratch_database(base_url: str) -> str:
    url = make_url(base_url)
    name = f"pose_studio_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(db_url: str, base_url: str) -> None:
    admin = create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(db_url).database}" WITH (FORCE)'))
    admin.dispose()


def claim_redis_db(base_url: str) -> str:
    """An empty Redis DB number (15 down to 1) claimed with SET NX, so the suite never flushes someone's data."""
    base = urlsplit(base_url)
    for number in range(15, 0, -1):
        url = urlunsplit(base._replace(path=f"/{number}"))
        client = redis.Redis.from_url(url)
        if client.dbsize() == 0 and client.set(CLAIM_KEY, "1", nx=True, ex=1800):
            client.close()
            return url
        client.close()
    raise SystemExit("no empty Redis database number to use")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install_shops(env: dict[str, str], n: int) -> list[str]:
    """n installed shops with token pairs, through the app's own token store."""
    code = (
        "import sys, datetime as d\n"
        "from plugin import create_app\n"
        "from plugin.shopify.token_store import TokenPair, store_token_pair\n"
        "app = create_app()\n"
        "now = d.datetime.now(d.UTC)\n"
        "with app.app_context():\n"
        "    for i in range(int(sys.argv[1])):\n"
        "        store_token_pair(f'load-{i}.myshopify.com', TokenPair(access_token=f'shpat_load{i:028d}',\n"
        "            access_expires_at=None, refresh_token=None, refresh_expires_at=None,\n"
        "            scopes='read_products,write_products,read_files,write_files'))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(n)], env=env, cwd=REPO, check=True)
    return [f"load-{i}.myshopify.com" for i in range(n)]


# --- measurements ------------------------------------------------------------------------------------------------


@dataclass
class Latencies:
    values: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        v = sorted(self.values)
        if not v:
            return {}

        def pct(p: float) -> float:
            return round(v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] * 1000, 2)

        return {"n": len(v), "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": pct(100),
                "mean_ms": round(statistics.fmean(v) * 1000, 2)}


def rss_of(pid: int) -> dict[str, float]:
    master = psutil.Process(pid)
    procs = [master, *master.children(recursive=True)]
    return {f"{'master' if p.pid == pid else 'worker'}-{p.pid}": round(p.memory_info().rss / 2**20, 1)
            for p in procs if p.is_running()}


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by: the gunicorn tree, every PostgreSQL and Redis server process on the machine, and
    this load generator. Differences over a phase say where the machine's time went."""
    def tree(pid: int) -> float:
        master = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [master, *master.children(recursive=True)] if p.is_running())

    def named(prefix: str) -> float:
        total = 0.0
        for proc in psutil.process_iter(["name"]):
            try:
                if (proc.info["name"] or "").startswith(prefix):
                    total += sum(proc.cpu_times()[:2])
            except psutil.Error:
                continue
        return total

    return {"gunicorn": tree(server_pid), "postgres": named("postgres"), "redis": named("redis-server"),
            "load_client": sum(psutil.Process().cpu_times()[:2])}


def cpu_per_request(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request for each party (the machine has os.cpu_count() cores to share)."""
    return {name: round((after[name] - before[name]) / requests * 1000, 2) for name in before}


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# --- phases ------------------------------------------------------------------------------------------------------


def webhook_phase(base: str, shops: list[str], deliveries: int, rate: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    plan: list[tuple[str, bytes, dict[str, str], str]] = []  # (kind, body, headers, event id)
    sent_events: list[tuple[bytes, dict[str, str]]] = []
    for i in range(deliveries):
        roll = rng.random()
        if roll < 0.10 and sent_events:
            body, headers = rng.choice(sent_events)
            plan.append(("duplicate", body, dict(headers), headers["X-Shopify-Event-Id"]))
            continue
        shop = rng.choice(shops)
        product = 1000 + i
        body = json.dumps({"id": product, "admin_graphql_api_id": f"gid://shopify/Product/{product}",
                           "title": f"Load product {product}", "images": [], "variants": []}).encode()
        event = uuid.uuid4().hex
        headers = {
            "Content-Type": "application/json", "X-Shopify-Topic": "products/update", "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": "2026-10", "X-Shopify-Webhook-Id": uuid.uuid4().hex,
            "X-Shopify-Event-Id": event,
            "X-Shopify-Triggered-At": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        }
        if roll < 0.15:  # 0.10..0.15: 5 % bad signatures
            headers["X-Shopify-Hmac-Sha256"] = sign(body, "not-the-app-secret-000000000000")
            plan.append(("bad", body, headers, event))
        else:
            headers["X-Shopify-Hmac-Sha256"] = sign(body, API_SECRET)
            plan.append(("good", body, headers, event))
            sent_events.append((body, headers))

    requests_ = [Request("POST", "/webhooks", headers, body) for _, body, headers, _ in plan]
    t0 = time.perf_counter()
    answers = send_paced(base, requests_, rate)
    wall = time.perf_counter() - t0 - 0.2  # the client starts sending 0.2 s after it is called
    latencies = Latencies([a.seconds for a in answers])
    outcomes: Counter[str] = Counter()
    statuses: dict[str, Counter[int]] = {"good": Counter(), "duplicate": Counter(), "bad": Counter()}
    for (kind, *_), answer in zip(plan, answers, strict=True):
        outcome = json.loads(answer.body).get("status", "") if answer.status == 200 else ""
        statuses[kind][answer.status] += 1
        outcomes[f"{kind}:{outcome or answer.status or 'connection-error'}"] += 1
    kinds = Counter(k for k, *_ in plan)
    return {
        "planned": dict(kinds), "wall_s": round(wall, 2), "achieved_rate": round(deliveries / wall, 1),
        "latency": latencies.summary(), "statuses": {k: dict(v) for k, v in statuses.items()},
        "outcomes": dict(outcomes),
        "good_events": sorted({e for k, _, _, e in plan if k == "good"}),
        "bad_events": sorted({e for k, _, _, e in plan if k == "bad"}),
    }


def verify_webhooks(db_url: str, redis_url: str, result: dict[str, Any]) -> dict[str, Any]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, event_id FROM webhook_deliveries")).all()
    engine.dispose()
    recorded = Counter(event for _, event in rows)
    good, bad = set(result.pop("good_events")), set(result.pop("bad_events"))
    delivery_ids = {row_id for row_id, _ in rows}
    # follow-up tasks waiting in the broker (no worker runs during the suite): one per recorded delivery
    client = redis.Redis.from_url(redis_url)
    enqueued: Counter[int] = Counter()
    tasks: Counter[str] = Counter()
    for raw in client.lrange("shopify", 0, -1):
        message = json.loads(raw)
        tasks[message["headers"]["task"]] += 1
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        if "delivery_id" in kwargs:
            enqueued[kwargs["delivery_id"]] += 1
    client.close()
    return {
        "accepted_unique_events": len(good),
        "recorded_rows": len(rows),
        "lost": len(good - set(recorded)),
        "recorded_twice": sum(1 for c in recorded.values() if c > 1),
        "bad_recorded": len(bad & set(recorded)),
        "tasks_enqueued": dict(tasks),
        "deliveries_enqueued_twice": sum(1 for c in enqueued.values() if c > 1),
        "recorded_without_task": len(delivery_ids - set(enqueued)),
    }


def polling_phase(base: str, shops: list[str], merchants: int, polls: int) -> dict[str, Any]:
    """M merchants at once (a burst), each polling GET /api/jobs P times over its own keep-alive connection."""

    def token(shop: str) -> str:
        now = int(time.time())
        return jwt.encode({"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": API_KEY, "sub": "42",
                           "exp": now + 120, "nbf": now, "iat": now, "jti": uuid.uuid4().hex,
                           "sid": uuid.uuid4().hex}, API_SECRET, algorithm="HS256")  # fmt: skip

    clients = [[Request("GET", "/api/jobs", {"Authorization": f"Bearer {token(shop)}"}) for _ in range(polls)]
               for shop in shops[:merchants]]  # fmt: skip
    t0 = time.perf_counter()
    answers = send_concurrently(base, clients)
    wall = time.perf_counter() - t0
    return {"merchants": merchants, "requests": merchants * polls, "wall_s": round(wall, 2),
            "throughput_rps": round(merchants * polls / wall, 1),
            "latency": Latencies([a.seconds for a in answers]).summary(),
            "statuses": dict(Counter(a.status for a in answers))}  # fmt: skip


# --- main --------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--merchants", type=int, default=50)
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the serve rule)")
    parser.add_argument("--worker-class", default=None, help="gunicorn worker class (default: plugin.gunicorn_conf)")
    parser.add_argument("--threads", type=int, default=None, help="gthread threads per worker")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--goal-p99-ms", type=float, default=50.0, help="webhook answer p99 goal")
    parser.add_argument("--goal-poll-p99-ms", type=float, default=200.0, help="API polling p99 goal")
    args = parser.parse_args()

    base_db = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    db_url = scratch_database(base_db)
    redis_url = claim_redis_db(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    storage = tempfile.mkdtemp(prefix="pose-studio-load-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "GUNICORN", "CELERY"))}
    env.update({
        "POSE_STUDIO_ENV": "production", "SHOPIFY_API_KEY": API_KEY, "SHOPIFY_API_SECRET": API_SECRET,
        "SHOPIFY_APP_URL": "https://pose-studio.load.test", "DATABASE_URL": db_url, "REDIS_URL": redis_url,
        "POSE_STUDIO_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "SHOPIFY_ADMIN_ORIGIN": "",
        "POSE_STUDIO_STORAGE_URL": Path(storage).as_uri(), "LOG_LEVEL": "WARNING",
    })
    if args.worker_class:
        env["GUNICORN_WORKER_CLASS"] = args.worker_class
    if args.threads:
        env["GUNICORN_THREADS"] = str(args.threads)
    report: dict[str, Any] = {"cores": os.cpu_count(), "load_average_before": os.getloadavg(),
                              "worker_class": args.worker_class or "default", "threads": args.threads or "default"}
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([sys.executable, "-c", "from pose_studio.cli import main; main()", "migrate"], env=env, cwd=REPO,
                       check=True, capture_output=True)
        shops = install_shops(env, max(args.merchants, 20))
        argv = [sys.executable, "-c", "from pose_studio.cli import main; main()", "serve",
                "--bind", f"127.0.0.1:{port}"]
        if args.workers:
            argv += ["--workers", str(args.workers)]
        server = subprocess.Popen(argv, env=env, cwd=REPO)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # workers import the whole app; slow on a busy 2-core box
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                answer = requests.get(f"{base}/readyz", timeout=10)
                if answer.status_code == 200:
                    break
                last = answer.text
            except requests.RequestException as exc:
                last = str(exc)
            if server.poll() is not None:
                raise SystemExit(f"gunicorn exited with {server.returncode}")
            time.sleep(0.3)
        else:
            raise SystemExit(f"the server never became ready: {last[:500]}")
        for _ in range(20):  # warm every worker's pool and imports before measuring
            requests.get(f"{base}/healthz", timeout=30)
        report["rss_mib_before"] = rss_of(server.pid)
        report["gunicorn_workers"] = len(report["rss_mib_before"]) - 1
        cpu_before = cpu_seconds(server.pid)
        webhooks = webhook_phase(base, shops[:20], args.deliveries, args.rate, args.seed)
        webhooks["cpu_ms_per_request"] = cpu_per_request(cpu_before, cpu_seconds(server.pid), args.deliveries)
        time.sleep(1.0)
        webhooks["verification"] = verify_webhooks(db_url, redis_url, webhooks)
        report["webhooks"] = webhooks
        cpu_before = cpu_seconds(server.pid)
        report["polling"] = polling_phase(base, shops, args.merchants, args.polls)
        report["polling"]["cpu_ms_per_request"] = cpu_per_request(cpu_before, cpu_seconds(server.pid),
                                                                  args.merchants * args.polls)  # fmt: skip
        report["rss_mib_after"] = rss_of(server.pid)
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        client = redis.Redis.from_url(redis_url)
        client.flushdb()
        client.close()
        drop_database(db_url, base_db)
    v = report["webhooks"]["verification"]
    report["correctness_ok"] = (v["lost"] == 0 and v["recorded_twice"] == 0 and v["bad_recorded"] == 0
                                and v["deliveries_enqueued_twice"] == 0
                                and report["webhooks"]["statuses"]["bad"].get(401, 0)
                                == report["webhooks"]["planned"].get("bad", 0))  # fmt: skip
    report["goal"] = {
        "rate": args.rate, "webhook_p99_ms": args.goal_p99_ms, "poll_p99_ms": args.goal_poll_p99_ms,
        # open loop: the sender never waits, so the achieved rate only drops when the server falls behind
        "rate_met": report["webhooks"]["achieved_rate"] >= 0.97 * args.rate,
        "webhook_p99_met": report["webhooks"]["latency"].get("p99_ms", 1e9) < args.goal_p99_ms,
        "poll_p99_met": report["polling"]["latency"].get("p99_ms", 1e9) < args.goal_poll_p99_ms,
    }
    text_report = json.dumps(report, indent=2)
    print(text_report)
    if args.json_path:
        Path(args.json_path).write_text(text_report)
    goal = report["goal"]
    print(f"correctness {'ok' if report['correctness_ok'] else 'FAILED'}; "
          f"webhooks {report['webhooks']['achieved_rate']}/s (goal {args.rate}) "
          f"p99 {report['webhooks']['latency'].get('p99_ms')} ms (goal < {args.goal_p99_ms}); "
          f"polling p99 {report['polling']['latency'].get('p99_ms')} ms (goal < {args.goal_poll_p99_ms})")
    print(f"CPU ms per webhook: {report['webhooks']['cpu_ms_per_request']}; "
          f"per poll: {report['polling']['cpu_ms_per_request']}")
    met = goal["rate_met"] and goal["webhook_p99_met"] and goal["poll_p99_met"]
    sys.exit(0 if report["correctness_ok"] and met else 1)


if __name__ == "__main__":
    main()
