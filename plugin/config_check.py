"""`pose-studio config check`: read the environment the way the app will and say what is missing or unsafe.

Errors make a deploy unsafe or broken (exit 1); warnings are worth a look. Nothing secret is ever printed: a
finding names the variable and what is wrong with it, never its value.

It reuses plugin.config.load_config (so "valid" means exactly what the app will accept) and adds what only
matters in production: example secrets, the emulator origin, SQLite or an embedded broker, http URLs, keys.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from plugin.config import SETTINGS, Environment, load_config
from plugin.errors import ConfigError

# Values copied from docs, examples and tutorials that must never reach production.
_EXAMPLE_MARKERS = re.compile(
    r"(replace[-_ ]?(me|with)|change[-_ ]?me|example|placeholder|your[-_]|xxxx|dev[-_]?secret|"
    r"test[-_]?secret|^secret$|^password$|^dev$|^test$|^emulator|^shpss_example)",
    re.IGNORECASE,
)
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104 (a list of names, not a bind)
_EMBEDDED_BROKERS = ("sqla+", "sqlalchemy+", "filesystem:", "memory:")
SECRET_SETTINGS = ("SHOPIFY_API_SECRET", "SHOPIFY_API_SECRET_PREVIOUS", "POSE_STUDIO_METRICS_TOKEN")


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    setting: str
    message: str


@dataclass
class ConfigReport:
    environment: str
    findings: list[Finding] = field(default_factory=list)

    def error(self, setting: str, message: str) -> None:
        self.findings.append(Finding(Severity.ERROR, setting, message))

    def warn(self, setting: str, message: str) -> None:
        self.findings.append(Finding(Severity.WARNING, setting, message))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_text(self) -> str:
        lines = [f"environment: {self.environment}"]
        for finding in self.errors + self.warnings:
            lines.append(f"{finding.severity.value}: {finding.setting}: {finding.message}")
        lines.append(
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
            + ("" if self.errors else " - configuration is usable")
        )
        return "\n".join(lines)

    def as_json(self) -> str:
        return json.dumps(
            {
                "environment": self.environment,
                "ok": self.ok,
                "errors": [{"setting": f.setting, "message": f.message} for f in self.errors],
                "warnings": [{"setting": f.setting, "message": f.message} for f in self.warnings],
            },
            indent=2,
        )


def check_config(environ: Mapping[str, str] | None = None, *, production: bool = False) -> ConfigReport:
    """Check `environ` (default os.environ). `production=True` checks it as a production environment even
    if POSE_STUDIO_ENV says otherwise (and reports that it does)."""
    env = dict(os.environ if environ is None else environ)
    declared = (env.get("POSE_STUDIO_ENV") or "production").strip().lower()
    is_prod = production or declared == Environment.PRODUCTION.value
    report = ConfigReport(environment="production" if is_prod else declared)

    if production and declared != Environment.PRODUCTION.value:
        report.error(
            "POSE_STUDIO_ENV",
            f"is {declared!r} in a production environment: development/test mode trusts the emulator and "
            "relaxes checks. Set POSE_STUDIO_ENV=production.",
        )
    _check_with_app_loader(env, report, force_production=production)
    _check_secrets(env, report, is_prod)
    _check_encryption_keys(env, report)
    if is_prod:
        _check_production_services(env, report)
    _check_ops_settings(env, report, is_prod)
    return report


def _check_with_app_loader(env: dict[str, str], report: ConfigReport, *, force_production: bool) -> None:
    """Every problem load_config would raise at startup, one finding each."""
    probe = dict(env)
    if force_production:
        probe["POSE_STUDIO_ENV"] = Environment.PRODUCTION.value
    try:
        load_config(environ=probe)
    except ConfigError as exc:
        for line in str(exc).splitlines()[1:]:
            message = line.strip().removeprefix("- ")
            name = message.split("=", 1)[0].split(" ", 1)[0]
            report.error(name if name.isupper() else "config", message)


def _check_secrets(env: dict[str, str], report: ConfigReport, is_prod: bool) -> None:
    secret = env.get("SHOPIFY_API_SECRET", "").strip()
    previous = env.get("SHOPIFY_API_SECRET_PREVIOUS", "").strip()
    for name in SECRET_SETTINGS:
        value = env.get(name, "").strip()
        if value and _EXAMPLE_MARKERS.search(value):
            # An example secret in development is how the dev command and the docs work; in production it
            # means anyone who read the docs can forge webhooks and ID tokens.
            (report.error if is_prod else report.warn)(
                name, "is an example/default value: use the real secret from the Partner dashboard."
            )
        elif value and is_prod and len(value) < 16:
            report.error(name, f"is only {len(value)} characters: a real Shopify client secret is 32+.")
    if secret and previous and secret == previous:
        report.warn("SHOPIFY_API_SECRET_PREVIOUS", "equals SHOPIFY_API_SECRET: drop it after the rotation.")


def _check_encryption_keys(env: dict[str, str], report: ConfigReport) -> None:
    from cryptography.fernet import Fernet

    raw = env.get("POSE_STUDIO_ENCRYPTION_KEYS", "")
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        return  # load_config already reported it as required
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            report.error(
                "POSE_STUDIO_ENCRYPTION_KEYS",
                f"key #{position} is not a valid Fernet key (44 url-safe base64 characters). Generate one: "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
            )
    if len(set(keys)) != len(keys):
        report.warn("POSE_STUDIO_ENCRYPTION_KEYS", "lists the same key twice.")
    if len(keys) > 3:
        report.warn(
            "POSE_STUDIO_ENCRYPTION_KEYS",
            f"holds {len(keys)} keys: after `pose-studio rotate-keys` the old ones can be dropped.",
        )


def _check_production_services(env: dict[str, str], report: ConfigReport) -> None:
    database_url = env.get("DATABASE_URL", "").strip()
    if not database_url:
        report.error("DATABASE_URL", "is not set: the default is a SQLite file. Use PostgreSQL.")
    elif database_url.startswith("sqlite"):
        report.error("DATABASE_URL", "is SQLite: it cannot be shared by several processes. Use PostgreSQL.")
    broker = env.get("CELERY_BROKER_URL", "").strip() or env.get("REDIS_URL", "").strip()
    if broker.startswith(_EMBEDDED_BROKERS):
        report.error(
            "CELERY_BROKER_URL" if env.get("CELERY_BROKER_URL") else "REDIS_URL",
            "is an embedded broker (dev only): workers on other machines cannot see it. Use Redis.",
        )
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        url = env.get(name, "").strip()
        if url.startswith("redis://"):
            parts = urlsplit(url)
            if parts.hostname and parts.hostname not in _LOCAL_HOSTS and not parts.password:
                report.warn(name, "reaches a remote Redis without a password; use rediss:// with AUTH.")
    storage = env.get("POSE_STUDIO_STORAGE_URL", "").strip()
    if not storage:
        report.error(
            "POSE_STUDIO_STORAGE_URL",
            "is not set: the default is ./instance/storage relative to the working directory, which GPU "
            "workers on other machines cannot read. Use s3://bucket/prefix or a shared file:// mount.",
        )
    elif storage.startswith("file:"):
        report.warn(
            "POSE_STUDIO_STORAGE_URL",
            "is a local directory: every web, shopify and GPU process must see the same mount (NFS); "
            "s3:// is simpler across machines.",
        )
    if env.get("FLASK_DEBUG", "").strip().lower() in ("1", "true", "yes"):
        report.error("FLASK_DEBUG", "is on: the debugger executes code for anyone who can trigger an error.")
    if not env.get("POSE_STUDIO_METRICS_TOKEN", "").strip():
        report.warn(
            "POSE_STUDIO_METRICS_TOKEN",
            "is not set: /metrics answers anyone who reaches the app; block it at the proxy or set a token.",
        )
    if not env.get("POSE_STUDIO_PROXY_HOPS", "").strip():
        report.warn(
            "POSE_STUDIO_PROXY_HOPS",
            "is not set (0): behind a TLS proxy the app sees http and the proxy's address. Set it to the "
            "number of proxies in front of gunicorn (usually 1).",
        )
    if env.get("LOG_LEVEL", "").strip().upper() == "DEBUG":
        report.warn("LOG_LEVEL", "is DEBUG: verbose, and third-party debug lines may carry payloads.")


def _check_ops_settings(env: dict[str, str], report: ConfigReport, is_prod: bool) -> None:
    hops = env.get("POSE_STUDIO_PROXY_HOPS", "").strip()
    if hops and (not hops.isdigit() or int(hops) > 5):
        report.error("POSE_STUDIO_PROXY_HOPS", f"must be a small whole number (0-5), got {hops!r}.")
    visibility = env.get("POSE_STUDIO_VISIBILITY_TIMEOUT", "").strip()
    # load_config (the startup check) already validates it; report a bad value once, not from both checks
    already = any(f.setting == "POSE_STUDIO_VISIBILITY_TIMEOUT" for f in report.findings)
    if visibility and not already:
        from gpu_worker.contract import time_limits

        try:
            time_limits({"POSE_STUDIO_VISIBILITY_TIMEOUT": visibility})
        except ValueError as exc:
            report.error("POSE_STUDIO_VISIBILITY_TIMEOUT", f"{exc} (got {visibility!r}).")
    for name in ("POSE_STUDIO_WORKER_METRICS_PORT", "PORT"):
        value = env.get(name, "").strip()
        if value and (not value.isdigit() or not 0 <= int(value) < 65536):
            report.error(name, f"must be a port number, got {value!r}.")
    known = {s.name for s in SETTINGS} | _OPS_SETTINGS | _diffusion_settings()
    typos = sorted(k for k in env if k.startswith(("POSE_STUDIO_", "SHOPIFY_")) and k not in known)
    for name in typos:
        report.warn(name, "is not a setting Pose Studio reads (a typo?).")


# Settings read outside plugin/config.py (ops, workers, storage, contract) — so they are not flagged as typos.
_OPS_SETTINGS = frozenset(
    {
        "POSE_STUDIO_STORAGE_URL",
        "POSE_STUDIO_PROXY_HOPS",
        "POSE_STUDIO_METRICS_TOKEN",
        "POSE_STUDIO_WORKER_METRICS_PORT",
        "POSE_STUDIO_VISIBILITY_TIMEOUT",
        "POSE_STUDIO_GPU_DEVICES",
        "POSE_STUDIO_INSTANCE",
        "POSE_STUDIO_EXTRAS",
        "POSE_STUDIO_VENV",
        "POSE_STUDIO_APT_EXTRA",
        "POSE_STUDIO_MODELS_DIR",
        "POSE_STUDIO_BACKEND",
        "POSE_STUDIO_DEVICE",
    }
)


def _diffusion_settings() -> set[str]:
    """The GPU worker's diffusion knobs (`POSE_STUDIO_DIFFUSION_<FIELD>` and `POSE_STUDIO_MODELS_DIR`), read by
    gpu_worker.generate.model_config; a misspelt field is still flagged. That module imports nothing heavy."""
    from dataclasses import fields

    from gpu_worker.generate.model_config import ENV_PREFIX, MODELS_DIR_ENV, DiffusionConfig

    return {MODELS_DIR_ENV} | {ENV_PREFIX + f.name.upper() for f in fields(DiffusionConfig) if f.name != "models_dir"}
