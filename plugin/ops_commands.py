"""Running Pose Studio: `serve` (gunicorn), `dev` (everything on a laptop), `config check`; `worker` is
pose_studio.worker.

Production reads every setting from the environment (see docs/DEPLOYMENT.md); these commands only choose
process shapes: how many gunicorn workers, which Celery app and queue, how many GPU processes.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from plugin.celery_app import embedded_broker_options

# ---------------------------------------------------------------------------------------------- serve


def wsgi_app() -> Any:
    """The WSGI callable gunicorn serves (`plugin.ops_commands:wsgi_app()`): the app, observability, and
    ProxyFix trusting exactly POSE_STUDIO_PROXY_HOPS proxies (0 = none: forwarded headers are ignored, so a
    client cannot spoof its address or scheme)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    from plugin import create_app
    from plugin.observability import init_observability

    app = create_app()
    init_observability(app)
    hops = proxy_hops()
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
    return app


def proxy_hops(environ: dict[str, str] | None = None) -> int:
    raw = (environ if environ is not None else os.environ).get("POSE_STUDIO_PROXY_HOPS", "").strip() or "0"
    if not raw.isdigit():
        raise click.ClickException(f"POSE_STUDIO_PROXY_HOPS must be a whole number, got {raw!r}")
    return int(raw)


@click.command()
@click.option("--bind", "-b", help="host:port (default $GUNICORN_BIND, else $HOST:$PORT, else :8000)")
@click.option("--workers", "-w", type=click.IntRange(1, 64), help="processes (default 2 x cores + 1, max 12)")
@click.option("--threads", type=click.IntRange(1, 64), help="threads per process (default 4)")
@click.option("--timeout", type=click.IntRange(5, 600), help="seconds before a stuck worker is recycled (30)")
@click.option("--check/--no-check", default=True, show_default=True,
              help="refuse to start when the configuration is invalid")
def serve(
    bind: str | None, workers: int | None, threads: int | None, timeout: int | None, check: bool
) -> None:
    """Serve the web app with gunicorn (settings in plugin/gunicorn_conf.py, overridable by GUNICORN_*)."""
    if check:
        _fail_on_invalid_config()
    overrides = {"GUNICORN_BIND": bind, "GUNICORN_WORKERS": workers, "GUNICORN_THREADS": threads,
                 "GUNICORN_TIMEOUT": timeout}
    env = dict(os.environ)
    env.update({k: str(v) for k, v in overrides.items() if v is not None})
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:plugin.gunicorn_conf",
            "plugin.ops_commands:wsgi_app()"]
    # exec: gunicorn's master becomes this process, so systemd/containers signal it directly.
    os.execve(sys.executable, argv, env)  # noqa: S606 (our own interpreter, fixed argv)


def _fail_on_invalid_config() -> None:
    from plugin.config import load_config
    from plugin.errors import ConfigError

    try:
        load_config()
    except ConfigError as exc:
        raise click.ClickException(f"{exc}\n(`pose-studio config check` lists every problem.)") from None


# ---------------------------------------------------------------------------------------------- worker
# `pose-studio worker` is pose_studio.worker (neutral ground: a GPU worker must not load the web app).


# ---------------------------------------------------------------------------------------------- config


@click.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@click.option("--production", is_flag=True, help="check as production even if POSE_STUDIO_ENV says otherwise")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def config_check(production: bool, as_json: bool) -> None:
    """Report missing or unsafe settings; exit 1 when there are errors (warnings are listed)."""
    from plugin.config_check import check_config

    report = check_config(production=production)
    click.echo(report.as_json() if as_json else report.as_text())
    if not report.ok:
        sys.exit(1)


# ---------------------------------------------------------------------------------------------- dev


DEV_SECRETS_FILE = "dev-secrets.json"
DEV_LOGIN_PATH = "/dev/login"


class DevStack:
    """Everything `pose-studio dev` runs, in one place so Ctrl-C can stop all of it.

    1. instance folder: SQLite database, SQLite broker (kombu's sqla transport), file storage, dev secrets
    2. Shopify emulator in this process, with the shop and its seeded products
    3. migrations, then the two Celery workers (shopify with the beat schedule, gpu) as child processes, solo pool
    4. the web app on a threaded Werkzeug server, plus /dev/login, which mints an ID token signed with the
       dev secret and opens the app as the emulated shop (registered only here, never by create_app)

    Redis and PostgreSQL are neither needed nor touched, even when REDIS_URL/DATABASE_URL are set around it.
    """

    def __init__(self, *, instance_dir: str, port: int, shop: str, workers: bool = True) -> None:
        self.instance = Path(instance_dir).resolve()
        self.requested_port = port
        self.shop = shop
        self.start_workers = workers
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = threading.Event()

    # -- setup
    def secrets(self) -> dict[str, str]:
        """Per-instance dev credentials, created once: a random app secret (so two laptops never share one)
        under a `dev-secret-` prefix that `config check` refuses in production."""
        from cryptography.fernet import Fernet

        path = self.instance / DEV_SECRETS_FILE
        if path.exists():
            return dict(json.loads(path.read_text()))
        values = {
            "SHOPIFY_API_KEY": "pose-studio-dev",
            "SHOPIFY_API_SECRET": "dev-secret-" + secrets.token_hex(16),
            "POSE_STUDIO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        }
        path.write_text(json.dumps(values, indent=2))
        path.chmod(0o600)
        return values

    def environment(self, port: int, emulator_origin: str, creds: dict[str, str]) -> dict[str, str]:
        return {
            **creds,
            "POSE_STUDIO_ENV": "development",
            "SHOPIFY_APP_URL": f"http://127.0.0.1:{port}",
            "SHOPIFY_ADMIN_ORIGIN": emulator_origin,
            "DATABASE_URL": f"sqlite:///{self.instance / 'pose-studio.sqlite'}",
            "REDIS_URL": "",
            "CELERY_BROKER_URL": f"sqla+sqlite:///{self.instance / 'celery-broker.sqlite'}",
            "POSE_STUDIO_STORAGE_URL": (self.instance / "storage").as_uri(),
            "PROMETHEUS_MULTIPROC_DIR": "",
            "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text"),
        }

    @staticmethod
    def pick_port(port: int) -> int:
        for candidate in (port, 0):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", candidate))
                except OSError:
                    continue
                return int(sock.getsockname()[1])
        raise click.ClickException("no free port on 127.0.0.1")

    def spawn_worker(self, queue: str, env: dict[str, str]) -> None:
        argv = [sys.executable, "-c", "from pose_studio.cli import main; main()", "worker", "--queues", queue,
                "--concurrency", "1", "--pool", "solo", "--metrics-port", "0"]
        if queue == "shopify":
            # the one beat of this stack: reconcile runs here as in production
            argv += ["--beat", "--beat-schedule", str(self.instance / "celerybeat-schedule")]
        # Own session: the terminal's Ctrl-C reaches only us, and we stop the children in order.
        self.children[queue] = subprocess.Popen(argv, env=env, start_new_session=True)  # noqa: S603

    # -- run
    def run(self) -> None:
        from werkzeug.serving import make_server

        (self.instance / "storage").mkdir(parents=True, exist_ok=True)
        creds = self.secrets()
        port = self.pick_port(self.requested_port)
        app_url = f"http://127.0.0.1:{port}"
        emulator = self._start_emulator(creds, app_url)
        env_overrides = self.environment(port, emulator.origin, creds)
        for key, value in env_overrides.items():
            if value:
                os.environ[key] = value
            else:
                os.environ.pop(key, None)
        child_env = dict(os.environ)

        from plugin.schema import upgrade

        upgrade(env_overrides["DATABASE_URL"])
        if self.start_workers:
            for queue in ("shopify", "gpu"):
                self.spawn_worker(queue, child_env)

        app = self._make_app(emulator, env_overrides["CELERY_BROKER_URL"])
        server = make_server("127.0.0.1", port, app, threaded=True)
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        watcher = threading.Thread(target=self._watch_children, name="dev-watch", daemon=True)
        watcher.start()
        click.echo(
            f"\nPose Studio dev is running (instance {self.instance})\n"
            f"  Shopify emulator: {emulator.origin}  shop {self.shop}, "
            f"{self._product_count(emulator)} products\n"
            f"  workers: {', '.join(self.children) or 'none'} (embedded SQLite broker)\n"
            f"  open the app as {self.shop}: {app_url}{DEV_LOGIN_PATH}\n"
            "Ctrl-C stops everything.",
        )
        sys.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._stopping.set()
            click.echo("stopping: web")
            server.server_close()
            self.stop_children()
            click.echo("stopping: emulator")
            emulator.stop()
            signal.signal(signal.SIGTERM, previous)
            click.echo("stopped")

    def _start_emulator(self, creds: dict[str, str], app_url: str) -> Any:
        try:
            from shopify_emulator import ShopifyEmulator
        except ImportError as exc:
            raise click.ClickException(
                "`pose-studio dev` runs the Shopify emulator (package shopify_emulator), which needs "
                "graphql-core: pip install 'pose-studio[emulator]'."
            ) from exc
        # a source checkout's shopify.app.toml sets the webhook API version and topics, as a deploy would
        app_config = Path(__file__).resolve().parents[1] / "shopify.app.toml"
        emulator = ShopifyEmulator(
            creds["SHOPIFY_API_KEY"], creds["SHOPIFY_API_SECRET"], webhook_url=f"{app_url}/webhooks",
            media_ready_delay=1.0, app_config=app_config if app_config.is_file() else None,
        )
        emulator.add_shop(self.shop)
        emulator.start()
        return emulator

    @staticmethod
    def _product_count(emulator: Any) -> int:
        shop = next(iter(emulator.shops.values()))
        return len(getattr(shop, "products", ()) or ())

    def _make_app(self, emulator: Any, broker_url: str) -> Any:
        from plugin import create_app
        from plugin.observability import init_observability

        app = create_app({"CELERY": {"broker_url": broker_url}})
        celery = app.extensions["celery"]
        celery.conf.broker_transport_options = embedded_broker_options(celery.conf.broker_transport_options)
        if app.config.get("POSE_STUDIO_ENV") != "development":
            raise click.ClickException("refusing to mount /dev/login outside development mode")
        init_observability(app)
        app.register_blueprint(dev_login_blueprint(emulator, self.shop))
        return app

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def _watch_children(self) -> None:
        reported: set[str] = set()
        while not self._stopping.wait(1.0):
            for name, child in self.children.items():
                code = child.poll()
                if code is not None and name not in reported:
                    reported.add(name)
                    click.echo(f"worker '{name}' exited with code {code}; the web keeps running", err=True)

    def stop_children(self, timeout: float = 15.0) -> None:
        for name, child in self.children.items():
            if child.poll() is None:
                click.echo(f"stopping: worker {name}")
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def dev_login_blueprint(emulator: Any, shop: str) -> Any:
    """GET /dev/login: what the Shopify admin does when it opens an embedded app — load `/` with `shop`,
    `host` and a fresh ID token (signed with the dev secret by the emulator)."""
    from urllib.parse import urlencode

    from flask import Blueprint, redirect

    bp = Blueprint("dev_login", __name__)

    @bp.get(DEV_LOGIN_PATH)
    def login() -> Any:
        handle = shop.removesuffix(".myshopify.com")
        host = base64.urlsafe_b64encode(f"admin.shopify.com/store/{handle}".encode()).decode().rstrip("=")
        query = {"shop": shop, "host": host, "embedded": "1", "id_token": emulator.make_id_token(shop)}
        return redirect(f"/?{urlencode(query)}", code=302)

    return bp


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="web port (0 = any free port; a busy port falls back to a free one)")
@click.option("--instance", "instance_dir", type=click.Path(file_okay=False),
              default=lambda: os.environ.get("POSE_STUDIO_INSTANCE", ".pose-studio/dev"),
              show_default=".pose-studio/dev", help="where the SQLite files, broker and storage live")
@click.option("--shop", default="dev-shop.myshopify.com", show_default=True, help="the emulated shop")
@click.option("--workers/--no-workers", default=True, show_default=True, help="start the Celery workers")
def dev(port: int, instance_dir: str, shop: str, workers: bool) -> None:
    """Web app + workers + Shopify emulator on this laptop: SQLite, embedded broker, no Redis/PostgreSQL."""
    DevStack(instance_dir=instance_dir, port=port, shop=shop, workers=workers).run()
