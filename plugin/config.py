"""Every setting of the web app, read from the environment in one place.

`load_config()` returns the dict that `create_app` puts into `app.config`. The Flask config keys are the
environment variable names, so `current_app.config["SHOPIFY_API_KEY"]` is what `SHOPIFY_API_KEY` said.
Tests pass a dict of overrides instead of touching `os.environ`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gpu_worker.contract import DEFAULT_VISIBILITY_TIMEOUT
from plugin.errors import ConfigError

DEFAULT_SHOP_INFLIGHT = 4  # read by plugin.services.dispatch
DEFAULT_API_VERSION = "2026-10"
DEFAULT_SCOPES = "read_products,write_products,read_files,write_files"


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"
    TEST = "test"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    help: str
    required: bool = False
    required_in_production: bool = False
    secret: bool = False
    # a row of the table only: read by another component from its own environment (a family of variables, a CLI
    # option's envvar, a GPU worker), never put into app.config
    doc_only: bool = False


# The README / docs/SHOPIFY.md table is generated from this list (`settings_table_markdown`).
SETTINGS: tuple[Setting, ...] = (
    Setting("POSE_STUDIO_ENV", "production", "`production`, `development` or `test`."),
    Setting("SHOPIFY_API_KEY", None, "App client id (Partner dashboard / `shopify.app.toml` client_id).",
            required=True),
    Setting("SHOPIFY_API_SECRET", None, "App client secret: signs ID tokens, webhooks and OAuth callbacks.",
            required=True, secret=True),
    Setting("SHOPIFY_API_SECRET_PREVIOUS", "", "Previous client secret, accepted during a secret rotation.",
            secret=True),
    Setting("SHOPIFY_APP_URL", None, "Public https origin of this app (`application_url`).",
            required_in_production=True),
    Setting("SHOPIFY_SCOPES", DEFAULT_SCOPES,
            "Comma-separated access scopes asked for in the OAuth code flow."),
    Setting("SHOPIFY_API_VERSION", DEFAULT_API_VERSION, "Admin API version used for GraphQL calls."),
    Setting("DATABASE_URL", None,
            "SQLAlchemy URL; default: SQLite file `pose-studio.sqlite` in the instance folder."),
    Setting("REDIS_URL", "", "Celery broker and the per-shop token refresh lock. Unset: embedded "
            "SQLite broker and an in-process lock (one process only).", required_in_production=True),
    Setting("POSE_STUDIO_ENCRYPTION_KEYS", None, "Comma-separated Fernet keys for tokens at rest; the "
            "first encrypts, all decrypt. Rotate: prepend a new key, run `pose-studio rotate-keys`, "
            "drop the old one.",
            required=True, secret=True),
    Setting("SHOPIFY_ADMIN_ORIGIN", "", "Emulator only: send Admin API and OAuth calls to this origin "
            "(with `Host: {shop}`) instead of https://{shop}. Refused unless POSE_STUDIO_ENV is "
            "development or test."),
    Setting("POSE_STUDIO_STORAGE_URL", None, "Object storage shared by web, shopify and GPU workers: "
            "`file:///path` or `s3://bucket/prefix?endpoint_url=…&region=…` (`pip install 'pose-studio[s3]'`). "
            "Default: `storage` in the instance folder (web) / `./instance/storage` (GPU worker); set it "
            "explicitly wherever the processes do not share a working directory."),
    Setting("POSE_STUDIO_VISIBILITY_TIMEOUT", str(DEFAULT_VISIBILITY_TIMEOUT), "Seconds before the Redis "
            "broker hands an un-acknowledged task to another worker; must exceed the longest GPU job. Task "
            "time limits derive from it (hard 80 %, soft 10 % below hard). At least 20. Same value on every "
            "process."),
    Setting("POSE_STUDIO_SHOP_INFLIGHT", str(DEFAULT_SHOP_INFLIGHT), "Fairness: at most this many dispatched, "
            "unfinished jobs per shop; the rest of a shop's bulk waits in the database, not in the queues."),
    Setting("POSE_STUDIO_RECONCILE_AFTER_SECONDS", "", "Reconcile re-sends a job's task when it sat this long "
            "in queued / fetching / generating / publishing. Unset: 5 min / 5 min / 1 h / 15 min."),
    Setting("POSE_STUDIO_MAX_JSON_BYTES", str(1024 * 1024), "Largest request body of /api/* JSON routes (and "
            "anything else but webhooks and photo uploads), in bytes; a larger one gets 413 before it is read."),
    Setting("POSE_STUDIO_MAX_PHOTO_BYTES", str(15 * 1024 * 1024), "Largest reference photo "
            "(POST /api/pose-sets, multipart), in bytes; the page checks it before uploading, the server "
            "answers 413 before reading a larger body."),
    Setting("POSE_STUDIO_MAX_WEBHOOK_BYTES", str(1024 * 1024), "Largest webhook body, in bytes (Shopify's "
            "product payloads are well under it); a larger one gets 413 before it is read."),
    Setting("POSE_STUDIO_CORS_ORIGINS", "https://extensions.shopifycdn.com", "Comma-separated allow-list of "
            "origins whose browser calls to /api/* get a CORS grant (admin UI extensions run on Shopify's "
            "extension CDN; add e.g. the tunnel origin `shopify app dev` serves extensions from). Exact origins "
            "only: no wildcards, no paths."),
    Setting("POSE_STUDIO_BILLING", "off", "`off` or `usage`: charge merchants through Shopify, one usage record per "
            "published image, after they approve the plan in the admin (docs/DEPLOYMENT.md, \"Usage billing\")."),
    Setting("POSE_STUDIO_BILLING_PRICE", "0.10", "With billing on: the price of one published image (a decimal in "
            "the billing currency)."),
    Setting("POSE_STUDIO_BILLING_CAP", "50.00", "With billing on: the most a shop is charged per 30 days (the plan's "
            "capped amount); generation pauses when the next image would pass it."),
    Setting("POSE_STUDIO_BILLING_CURRENCY", "USD", "With billing on: the currency of price and cap (ISO 4217; "
            "Shopify bills apps in USD)."),
    Setting("POSE_STUDIO_BILLING_TEST", "", "`1`: Shopify's test charges (never billed); `0`: real charges. Unset: "
            "test charges unless POSE_STUDIO_ENV is production."),
    Setting("POSE_STUDIO_METRICS_TOKEN", "", "Bearer token `/metrics` requires when set; unset, `/metrics` "
            "answers anyone who reaches it (block it at the proxy).", secret=True),
    Setting("POSE_STUDIO_PROXY_HOPS", "0", "Number of proxies in front of gunicorn whose X-Forwarded-* "
            "headers are trusted (ProxyFix); 0 ignores them. Usually 1 behind a TLS proxy.", doc_only=True),
    Setting("POSE_STUDIO_WORKER_METRICS_PORT", "", "Prometheus port of `pose-studio worker` (default 9808 "
            "shopify, 9809 gpu; 0 = off).", doc_only=True),
    Setting("POSE_STUDIO_BEAT_SCHEDULE", "", "With `pose-studio worker --queues shopify --beat`: the file "
            "where beat keeps its last-run times (default: in the temp directory).", doc_only=True),
    Setting("POSE_STUDIO_MODELS_DIR, POSE_STUDIO_DIFFUSION_*", "", "GPU workers only: where the diffusion "
            "models live and how the diffusion backend runs (preset, steps, resolution, LoRA, offload); see "
            "docs/MODELS.md.", doc_only=True),
)

# What load_config reads into app.config (the rest of SETTINGS is documented here, read where it is used).
APP_SETTINGS: tuple[Setting, ...] = tuple(s for s in SETTINGS if not s.doc_only)


def _read_settings(env: Mapping[str, str], overrides: dict[str, Any]) -> dict[str, Any]:
    """Each setting from `overrides` (popped), else the environment, else its default; strings stripped."""
    values: dict[str, Any] = {}
    for setting in APP_SETTINGS:
        raw = overrides.pop(setting.name, None)
        if raw is None:
            raw = env.get(setting.name)
        if raw is None or (isinstance(raw, str) and raw.strip() == "" and setting.default is not None):
            raw = setting.default
        values[setting.name] = raw.strip() if isinstance(raw, str) else raw
    return values


def _environment(values: dict[str, Any], problems: list[str]) -> Environment:
    try:
        environment = Environment(str(values["POSE_STUDIO_ENV"]).lower())
    except ValueError:
        problems.append(f"POSE_STUDIO_ENV={values['POSE_STUDIO_ENV']!r}: use production, development or test.")
        environment = Environment.PRODUCTION  # judged by the strictest rules
    values["POSE_STUDIO_ENV"] = environment.value
    return environment


def _check_required(values: dict[str, Any], environment: Environment, problems: list[str]) -> None:
    for setting in APP_SETTINGS:
        if values[setting.name]:
            continue
        if setting.required:
            problems.append(f"{setting.name} is not set: {setting.help}")
        elif setting.required_in_production and environment is Environment.PRODUCTION:
            problems.append(f"{setting.name} is not set (required in production): {setting.help}")


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    instance_path: str | os.PathLike[str] = "instance",
) -> dict[str, Any]:
    """Read every setting from `environ` (default os.environ), apply `overrides`, validate; Flask config.

    Raises ConfigError listing every problem at once.
    """
    overrides = dict(overrides or {})
    values = _read_settings(os.environ if environ is None else environ, overrides)
    problems: list[str] = []
    environment = _environment(values, problems)
    _check_required(values, environment, problems)

    app_url = values["SHOPIFY_APP_URL"] or ("" if environment is Environment.PRODUCTION else "http://localhost:5000")
    if app_url:
        parts = urlsplit(app_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"SHOPIFY_APP_URL={app_url!r} is not an absolute http(s) URL.")
        elif environment is Environment.PRODUCTION and parts.scheme != "https":
            problems.append("SHOPIFY_APP_URL must be https in production (Shopify only embeds https apps).")
    values["SHOPIFY_APP_URL"] = app_url.rstrip("/")

    admin_origin = values["SHOPIFY_ADMIN_ORIGIN"] or ""
    if admin_origin:
        if environment is Environment.PRODUCTION:
            problems.append(
                "SHOPIFY_ADMIN_ORIGIN is set but POSE_STUDIO_ENV is production: it sends shop tokens to a "
                "non-Shopify host and is only for the local emulator. Unset it, or set "
                "POSE_STUDIO_ENV=development."
            )
        parts = urlsplit(admin_origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            problems.append(f"SHOPIFY_ADMIN_ORIGIN={admin_origin!r} must be an origin like http://127.0.0.1:8081.")
    values["SHOPIFY_ADMIN_ORIGIN"] = admin_origin.rstrip("/")

    values["POSE_STUDIO_CORS_ORIGINS"] = _cors_origins(values["POSE_STUDIO_CORS_ORIGINS"], problems)

    scopes = str(values["SHOPIFY_SCOPES"]).split(",")
    values["SHOPIFY_SCOPES"] = ",".join(s.strip() for s in scopes if s.strip())

    _check_numbers(values, problems)
    _check_billing(values, problems, environment)

    database_url = values.pop("DATABASE_URL") or default_database_url(instance_path)
    values["DATABASE_URL"] = database_url

    if problems:
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(problems))

    config: dict[str, Any] = {
        **values,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "TESTING": environment is Environment.TEST,
        "WEBHOOK_MAX_BODY_BYTES": values["POSE_STUDIO_MAX_WEBHOOK_BYTES"],
        # Flask's signing key (OAuth state cookie) is derived from the app secret so there is one secret less
        # to manage; the derivation keeps the raw client secret out of itsdangerous.
        "SECRET_KEY": _derive_secret_key(str(values["SHOPIFY_API_SECRET"] or "")),
        "SESSION_COOKIE_SECURE": app_url.startswith("https://"),
        "SESSION_COOKIE_SAMESITE": "Lax",
    }
    if values["SHOPIFY_API_SECRET_PREVIOUS"]:
        config["SECRET_KEY_FALLBACKS"] = [_derive_secret_key(values["SHOPIFY_API_SECRET_PREVIOUS"])]
    config.update(overrides)  # anything else (e.g. SQLALCHEMY_ECHO) passes through untouched
    return config


def _check_numbers(values: dict[str, Any], problems: list[str]) -> None:
    """The numeric job-layer settings, converted in place (a bad value is a startup error, not a crash later)."""
    raw = values.get("POSE_STUDIO_VISIBILITY_TIMEOUT")
    try:
        visibility = int(str(raw))
        if visibility < 20:
            raise ValueError
        values["POSE_STUDIO_VISIBILITY_TIMEOUT"] = visibility
    except ValueError:
        problems.append(f"POSE_STUDIO_VISIBILITY_TIMEOUT={raw!r}: use whole seconds, at least 20 (default "
                        f"{DEFAULT_VISIBILITY_TIMEOUT}), longer than the longest GPU job.")  # fmt: skip
    raw = values.get("POSE_STUDIO_SHOP_INFLIGHT")
    try:
        inflight = int(str(raw))
        if inflight < 1:
            raise ValueError
        values["POSE_STUDIO_SHOP_INFLIGHT"] = inflight
    except ValueError:
        problems.append(f"POSE_STUDIO_SHOP_INFLIGHT={raw!r}: use a whole number of jobs, at least 1 (default "
                        f"{DEFAULT_SHOP_INFLIGHT}).")  # fmt: skip
    for name in ("POSE_STUDIO_MAX_JSON_BYTES", "POSE_STUDIO_MAX_PHOTO_BYTES", "POSE_STUDIO_MAX_WEBHOOK_BYTES"):
        raw = values.get(name)
        try:
            size = int(str(raw))
            if size < 1024:
                raise ValueError
            values[name] = size
        except ValueError:
            problems.append(f"{name}={raw!r}: use a whole number of bytes, at least 1024.")
    raw = values.get("POSE_STUDIO_RECONCILE_AFTER_SECONDS")
    if raw:
        try:
            if float(str(raw)) <= 0:
                raise ValueError
        except ValueError:
            problems.append(f"POSE_STUDIO_RECONCILE_AFTER_SECONDS={raw!r}: use a positive number of seconds, "
                            "or leave it unset for the defaults.")  # fmt: skip


def _cors_origins(raw: str | Iterable[str] | None, problems: list[str]) -> frozenset[str]:
    """The CORS allow-list as exact origins (`scheme://host[:port]`); anything looser is a startup error, because
    a grant to a pattern would let any page under it call the API with a merchant's session token. Takes the
    environment's comma-separated text or an already loaded collection (a loaded config passed back in)."""
    items = (raw or "").split(",") if isinstance(raw, str) or raw is None else list(raw)
    origins = set()
    for item in (str(part).strip() for part in items):
        if not item:
            continue
        parts = urlsplit(item)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or "*" in item
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            problems.append(f"POSE_STUDIO_CORS_ORIGINS: {item!r} is not an exact origin like https://host[:port].")
            continue
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return frozenset(origins)


def _check_billing(values: dict[str, Any], problems: list[str], environment: Environment) -> None:
    """The usage-billing settings, converted in place: POSE_STUDIO_BILLING a bool, price and cap Decimals."""
    from decimal import Decimal, InvalidOperation

    billing = values.get("POSE_STUDIO_BILLING")
    # a loaded config passed back in carries the bool itself
    mode = ("usage" if billing else "off") if isinstance(billing, bool) else str(billing or "off").lower()
    if mode not in ("off", "usage"):
        problems.append(f"POSE_STUDIO_BILLING={mode!r}: use off or usage.")
    values["POSE_STUDIO_BILLING"] = mode == "usage"
    for name in ("POSE_STUDIO_BILLING_PRICE", "POSE_STUDIO_BILLING_CAP"):
        raw = values.get(name)
        try:
            amount = Decimal(str(raw))
            if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
                raise InvalidOperation
            values[name] = amount
        except InvalidOperation:
            problems.append(f"{name}={raw!r}: use a positive amount with at most 2 decimals, e.g. 0.10.")
    price, cap = values.get("POSE_STUDIO_BILLING_PRICE"), values.get("POSE_STUDIO_BILLING_CAP")
    if isinstance(price, Decimal) and isinstance(cap, Decimal) and price > cap:
        problems.append("POSE_STUDIO_BILLING_PRICE is above POSE_STUDIO_BILLING_CAP: no image could ever be billed.")
    currency = str(values.get("POSE_STUDIO_BILLING_CURRENCY") or "").upper()
    if len(currency) != 3 or not currency.isalpha():
        problems.append(f"POSE_STUDIO_BILLING_CURRENCY={currency!r}: use a 3-letter ISO 4217 code such as USD.")
    values["POSE_STUDIO_BILLING_CURRENCY"] = currency
    flag = values.get("POSE_STUDIO_BILLING_TEST")
    # a loaded config passed back in carries the bool itself
    test = ("1" if flag else "0") if isinstance(flag, bool) else str(flag or "").strip()
    if test not in ("", "0", "1"):
        problems.append(f"POSE_STUDIO_BILLING_TEST={test!r}: use 1, 0, or leave it unset.")
    values["POSE_STUDIO_BILLING_TEST"] = (environment is not Environment.PRODUCTION) if test == "" else test == "1"


def default_database_url(instance_path: str | os.PathLike[str]) -> str:
    return f"sqlite:///{Path(instance_path).resolve() / 'pose-studio.sqlite'}"


def database_url_from_env(instance_path: str | os.PathLike[str] = "instance") -> str:
    """DATABASE_URL alone, for commands (migrate) that must not need the Shopify credentials."""
    return os.environ.get("DATABASE_URL", "").strip() or default_database_url(instance_path)


def is_emulated(config: Mapping[str, Any]) -> bool:
    return bool(config.get("SHOPIFY_ADMIN_ORIGIN"))


def settings_table_markdown() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = "—" if s.default in (None, "") else f"`{s.default}`"
        if s.doc_only and "," in s.name:
            rows.append(f"| {', '.join(f'`{n.strip()}`' for n in s.name.split(','))} | {default} | {s.help} |")
            continue
        flags = " Required." if s.required else ""
        if s.required_in_production:
            flags = " Required in production."
        rows.append(f"| `{s.name}` | {default} | {s.help}{flags} |")
    return "\n".join(rows)


def _derive_secret_key(api_secret: str) -> str:
    return hmac.new(api_secret.encode(), b"pose-studio flask signing key", hashlib.sha256).hexdigest()
