"""ShopifyEmulator: a local Shopify Admin API (tokens, GraphQL on the real schema, staged uploads, media, webhooks).

The shop is identified by the Host header of every /admin/* request, as on Shopify itself; the app reaches it by
setting SHOPIFY_ADMIN_ORIGIN to `emu.start()`'s origin and sending `Host: {shop}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import os
import queue
import random
import secrets
import threading
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from graphql import GraphQLError, NoDeprecatedCustomRule, OperationDefinitionNode, execute_sync, parse, validate
from graphql import specified_rules as spec_rules
from graphql.utilities import get_operation_ast
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import billing, catalog
from .access import access_denied_errors, denied_fields, load_access_rules
from .faults import Faults
from .graph import Ctx, field_resolver, mutation_root, query_root, type_resolver
from .schema import CostCalculator, load_schema
from .store import (
    EmuBulkOperation,
    EmuCollection,
    EmuMedia,
    EmuShop,
    MediaStatus,
    StagedUpload,
    TokenRecord,
    next_id,
    product_rest_payload,
)

log = logging.getLogger(__name__)

MAX_QUERY_COST = 1000  # Shopify's single-query cap (MAX_COST_EXCEEDED)
MAX_VARIANTS = 2048  # per product (Shopify's limit since the 2024 product model)
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE = "urn:shopify:params:oauth:token-type:offline-access-token"
ONLINE = "urn:shopify:params:oauth:token-type:online-access-token"
REFRESH_TTL = 90 * 24 * 3600
# Shopify retries a failed delivery 8 times over 4 h; tests compress that.
DEFAULT_WEBHOOK_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)


@dataclass
class EmuStats:
    token_exchange: int = 0
    refresh: int = 0
    authorization_code: int = 0
    graphql_requests: int = 0
    graphql_cost: int = 0  # actual cost charged
    requested_cost: int = 0
    throttled: int = 0
    http_429: int = 0
    http_5xx: int = 0
    timeouts: int = 0
    unauthorized: int = 0
    staged_uploads: int = 0
    webhooks_sent: int = 0
    access_denied: int = 0  # requests refused for a missing access scope
    refresh_answers_lost: int = 0  # refreshes that rotated and then answered 5xx
    webhooks_unsubscribed: int = 0  # automatic deliveries not sent: the app's configuration has no such topic
    bulk_refused: int = 0  # bulkOperationRunQuery refused (limits, one already running)
    operations: Counter = field(default_factory=Counter)  # operation name -> requests that executed
    costs: Counter = field(default_factory=Counter)  # operation name -> actual cost

    def reset(self) -> None:
        fresh = EmuStats()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))


@dataclass
class RefreshRecord:
    shop: str
    expires_at: float
    revoked: bool = False
    successors: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class HeldWebhook:
    """A delivery prepared when its event happened (signature, event id, X-Shopify-Triggered-At) and sent later."""

    topic: str
    shop: str
    payload: Any
    body: bytes
    headers: dict[str, str]


def read_app_config(path: str | os.PathLike[str]) -> tuple[str | None, frozenset[str]]:
    """(webhooks.api_version, every subscribed topic) of a Shopify CLI app configuration (shopify.app.toml)."""
    with open(path, "rb") as fh:
        config = tomllib.load(fh)
    webhooks = config.get("webhooks") or {}
    topics = {str(t) for sub in webhooks.get("subscriptions") or [] for t in sub.get("topics") or []}
    return (str(webhooks["api_version"]) if webhooks.get("api_version") else None), frozenset(topics)


class ShopifyEmulator:
    """A local stand-in for Shopify. Use as `with ShopifyEmulator(key, secret) as emu:` or start()/stop()."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        webhook_url: str | None = None,
        media_ready_delay: float = 0.3,
        api_versions: tuple[str, ...] = ("2026-07", "2026-10"),
        job_delay: float = 0.05,
        bulk_delay: float = 0.2,
        bulk_concurrency: int | None = None,
        original_source_ttl: float = 300.0,
        app_config: str | os.PathLike[str] | None = None,
        access_token_ttl: int = 3600,
        refresh_recovery_window: bool = False,
        reject_deprecated: bool = True,
        webhook_retry_delays: tuple[float, ...] = DEFAULT_WEBHOOK_DELAYS,
        webhook_timeout: float = 5.0,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ):
        self.api_key = api_key
        self.api_secret = api_secret
        self.webhook_url = webhook_url
        self.media_ready_delay = media_ready_delay
        self.api_versions = tuple(api_versions)
        self.job_delay = job_delay
        self.bulk_delay = bulk_delay
        # lifetime of a MediaImage.originalSource.url (a signed storage URL on Shopify)
        self.original_source_ttl = original_source_ttl
        # bulk queries one app may run per shop at once; None: Shopify's rule for the API version (1, 5 from 2026-01)
        self.bulk_concurrency = bulk_concurrency
        self.access_token_ttl = access_token_ttl
        # Shopify (2026): a previous refresh token stays usable until its successor is first used. Off by default:
        # then rotation invalidates the old token at once, the stricter behaviour tests want to see handled.
        self.refresh_recovery_window = refresh_recovery_window
        self.reject_deprecated = reject_deprecated
        self.webhook_retry_delays = tuple(webhook_retry_delays)
        # From the app's shopify.app.toml, as Shopify takes them from the deployed configuration: the version of
        # every webhook body (X-Shopify-API-Version) and the topics automatic deliveries are sent for.
        self.webhook_api_version: str | None = None
        self.subscribed_topics: frozenset[str] | None = None  # None: every topic (no app configuration given)
        if app_config is not None:
            self.webhook_api_version, self.subscribed_topics = read_app_config(app_config)
        self.webhook_timeout = webhook_timeout
        self.faults = Faults()
        self.faults.seed(seed)
        self.stats = EmuStats()
        self.shops: dict[str, EmuShop] = {}
        self.staged: dict[str, StagedUpload] = {}
        self.bulk_files: dict[str, EmuBulkOperation] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.refresh_tokens: dict[str, RefreshRecord] = {}
        self.refresh_refusals: dict[str, tuple[int, str]] = {}
        self.refresh_lost_answers: dict[str, tuple[int, int]] = {}  # shop -> (times left, HTTP status)
        self.before_graphql: Callable[[str], None] | None = None
        self.auth_codes: dict[str, tuple[str, float]] = {}
        self.deliveries: list[dict[str, Any]] = []  # every webhook attempt: topic, shop, status, attempt, ...
        self._holding = False
        self._held: list[HeldWebhook] = []
        self.lock = threading.RLock()
        self._host, self._port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._webhook_queue: queue.Queue[tuple[str, str, dict[str, Any]] | None] = queue.Queue()
        self._webhook_thread: threading.Thread | None = None
        self._rng = random.Random(seed)
        self.origin = ""
        self._url_map = Map(
            [
                Rule("/admin/api/<version>/graphql.json", endpoint="graphql", methods=["POST"]),
                Rule("/admin/oauth/access_token", endpoint="access_token", methods=["POST"]),
                Rule("/admin/oauth/authorize", endpoint="authorize", methods=["GET"]),
                Rule("/staged/<token>", endpoint="staged_upload", methods=["POST", "PUT"]),
                Rule("/staged/<token>/<filename>", endpoint="staged_file", methods=["GET"]),
                Rule("/cdn/shop/<int:shop_num>/files/<filename>", endpoint="cdn", methods=["GET"]),
                Rule("/bulk/<token>.jsonl", endpoint="bulk_file", methods=["GET"]),
                Rule("/originals/<int:shop_num>/<key>", endpoint="original", methods=["GET"]),
                Rule("/admin/charges/<int:num>/confirm_recurring_application_charge", endpoint="charge_confirm",
                     methods=["GET"]),  # fmt: skip
                Rule("/health", endpoint="health", methods=["GET"]),
            ]
        )

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> str:
        """Serve in a background thread; returns the origin (http://127.0.0.1:PORT)."""
        if self._server is not None:
            return self.origin
        for version in self.api_versions:  # build the schemas now, not inside the first (timed) request
            load_schema(version)
            load_access_rules(version)
        self._server = make_server(self._host, self._port, self.wsgi_app, threaded=True, request_handler=_QuietHandler)
        self.origin = f"http://{self._host}:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="shopify-emulator", daemon=True
        )
        self._thread.start()
        self._webhook_thread = threading.Thread(target=self._webhook_worker, name="emulator-webhooks", daemon=True)
        self._webhook_thread.start()
        return self.origin

    def stop(self) -> None:
        if self._server is None:
            return
        self._webhook_queue.put(None)
        self._server.shutdown()
        self._server.server_close()
        if self._webhook_thread is not None:
            self._webhook_thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> ShopifyEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- shops & tokens ------------------------------------------------------------------------------------------
    def add_shop(self, domain: str, plan: str = "standard", seed_products: bool = True) -> EmuShop:
        with self.lock:
            shop = EmuShop(domain=domain, plan=plan)
            self.shops[domain] = shop
            if seed_products:
                catalog.seed_shop(self, shop)
            return shop

    def shop(self, domain: str) -> EmuShop:
        return self.shops[domain]

    def add_products(self, shop: str, n: int, *, images_per_product: int = 1, variants_per_product: int = 1) -> list:
        """Bulk-create `n` simple products (for pagination and benchmark catalogs). At most 2,048 variants each, as on
        Shopify."""
        if variants_per_product > MAX_VARIANTS:
            raise ValueError(f"Shopify allows at most {MAX_VARIANTS} variants per product")
        with self.lock:
            return catalog.add_generated_products(
                self,
                self.shops[shop],
                n,
                images_per_product=images_per_product,
                variants_per_product=variants_per_product,
            )

    def add_collection(self, shop: str, title: str, product_ids: list[str]) -> EmuCollection:
        """A manual collection holding `product_ids` (Product GIDs); read back through Product.collections."""
        with self.lock:
            handle = "-".join(title.lower().split())
            collection = EmuCollection(next_id(), title, handle, list(product_ids))
            self.shops[shop].collections[collection.gid] = collection
            return collection

    def issue_access_token(self, shop: str, *, expires_in: int | None = 3600) -> str:
        """A valid Admin API token for `shop` without going through token exchange (for client-only tests)."""
        token = "shpat_" + secrets.token_hex(16)
        with self.lock:
            self.tokens[token] = TokenRecord(shop, time.time() + expires_in if expires_in else None)
        return token

    def revoke_tokens(self, shop: str) -> None:
        """What app/uninstalled does to the shop's tokens."""
        with self.lock:
            for token in [t for t, r in self.tokens.items() if r.shop == shop]:
                del self.tokens[token]
            for rt in self.refresh_tokens.values():
                if rt.shop == shop:
                    rt.revoked = True

    def refuse_refresh(self, shop: str, status: int = 401, error: str = "invalid_request") -> None:
        """Refuse every refresh of `shop` with HTTP `status` and `error`, as Shopify does once a rotation went wrong
        (401 invalid_request) or while it is down (5xx); `refuse_refresh(shop, 0)` lifts it."""
        with self.lock:
            if status:
                self.refresh_refusals[shop] = (status, error)
            else:
                self.refresh_refusals.pop(shop, None)

    def lose_refresh_answers(self, shop: str, times: int = 1, status: int = 502) -> None:
        """The next `times` refreshes of `shop` rotate (the presented refresh token is consumed, a new pair is
        issued) and then answer HTTP `status`: the app never sees the new pair. Whether the old refresh token still
        works afterwards is `refresh_recovery_window`'s rule."""
        with self.lock:
            self.refresh_lost_answers[shop] = (times, status)

    def expire_access_tokens(self, shop: str) -> None:
        """Make every access token of `shop` expired now (to test refresh-on-401)."""
        with self.lock:
            for record in self.tokens.values():
                if record.shop == shop:
                    record.expires_at = time.time() - 1

    def make_id_token(
        self,
        shop: str,
        *,
        exp_in: int = 60,
        nbf_offset: int = 0,
        sub: str = "42",
        secret: str | None = None,
        aud: str | None = None,
        dest: str | None = None,
        **extra: Any,
    ) -> str:
        """An App Bridge session (ID) token for `shop`: HS256 under the app secret, aud = api key, dest = shop."""
        now = int(time.time())
        claims = {
            "iss": f"https://{shop}/admin",
            "dest": dest or f"https://{shop}",
            "aud": aud or self.api_key,
            "sub": sub,
            "exp": now + exp_in,
            "nbf": now + nbf_offset,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "sid": secrets.token_hex(16),
            **extra,
        }
        return jwt.encode(claims, secret or self.api_secret, algorithm="HS256")

    def sign(self, value: str) -> str:
        return hmac.new(self.api_secret.encode(), value.encode(), hashlib.sha256).hexdigest()

    # -- webhooks ---------------------------------------------------------------------------------------------------
    def webhook_headers(
        self,
        topic: str,
        shop: str,
        body: bytes,
        *,
        api_version: str | None = None,
        event_id: str | None = None,
        webhook_id: str | None = None,
        triggered_at: str | None = None,
    ) -> dict[str, str]:
        digest = hmac.new(self.api_secret.encode(), body, hashlib.sha256).digest()
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": api_version or self.webhook_api_version or self.api_versions[0],
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
            # Shopify sends sub-second precision (e.g. 2023-03-29T18:00:27.877041743Z); whole seconds would make an
            # uninstall in the same second as the install look older than it
            "X-Shopify-Triggered-At": triggered_at
            or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    def send_webhook(
        self,
        topic: str,
        shop: str,
        payload: dict[str, Any] | list[Any],
        *,
        address: str | None = None,
        api_version: str | None = None,
        event_id: str | None = None,
        retry_delays: tuple[float, ...] | None = None,
    ) -> requests.Response | None:
        """Deliver like Shopify: signed raw body, same event id on every retry, retry non-2xx with backoff.

        Returns the last response (None when every attempt failed to connect)."""
        url = address or self.webhook_url
        if not url:
            raise ValueError("no webhook address: pass address= or set ShopifyEmulator(webhook_url=...)")
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = self.webhook_headers(topic, shop, body, api_version=api_version, event_id=event_id)
        return self._deliver(url, topic, shop, payload, body, headers, retry_delays)

    def _deliver(
        self,
        url: str,
        topic: str,
        shop: str,
        payload: Any,
        body: bytes,
        headers: dict[str, str],
        retry_delays: tuple[float, ...] | None = None,
    ) -> requests.Response | None:
        delays = self.webhook_retry_delays if retry_delays is None else retry_delays
        response: requests.Response | None = None
        for attempt in range(len(delays) + 1):
            status: int | None = None
            try:
                response = requests.post(
                    url, data=body, headers=headers, timeout=self.webhook_timeout, allow_redirects=False
                )
                status = response.status_code
            except requests.RequestException as exc:
                log.info("webhook %s to %s failed: %s", topic, url, exc)
            self.stats.webhooks_sent += 1
            self.deliveries.append(
                {
                    "topic": topic,
                    "shop": shop,
                    "address": url,
                    "attempt": attempt + 1,
                    "status": status,
                    "event_id": headers["X-Shopify-Event-Id"],
                    "payload": payload,
                }
            )
            if status is not None and 200 <= status < 300:  # 3xx counts as failure, like Shopify
                return response
            if attempt < len(delays):
                time.sleep(delays[attempt])
        return response

    # -- late, duplicated and out-of-order delivery (Shopify promises none of order, once-only or promptness) --------
    def hold_webhooks(self) -> None:
        """From now on automatic deliveries are prepared (signed, with the event's id and time) but not sent."""
        with self.lock:
            self._holding = True

    def take_held_webhooks(self, *, order: str = "queued", duplicates: int = 0) -> list[HeldWebhook]:
        """The held deliveries, ending the hold: in `order` ("queued", "reverse" or "shuffle", seeded), each one
        `duplicates` extra times (the same event and webhook id, as Shopify's redeliveries). Send them yourself
        (e.g. through a test client) or with `release_webhooks`."""
        with self.lock:
            held, self._held, self._holding = list(self._held), [], False
        if order == "reverse":
            held.reverse()
        elif order == "shuffle":
            self._rng.shuffle(held)
        elif order != "queued":
            raise ValueError(f"order {order!r}: use queued, reverse or shuffle")
        return [item for item in held for _ in range(1 + duplicates)]

    def release_webhooks(self, *, order: str = "queued", duplicates: int = 0, gap: float = 0.0) -> None:
        """Send the held deliveries to `webhook_url` now (late), in `order`, duplicated, `gap` seconds apart."""
        for item in self.take_held_webhooks(order=order, duplicates=duplicates):
            assert self.webhook_url
            self._deliver(self.webhook_url, item.topic, item.shop, item.payload, item.body, item.headers)
            if gap:
                time.sleep(gap)

    def wait_for_webhooks(self, timeout: float = 10.0) -> None:
        """Block until automatic deliveries queued so far (products/update ...) are done."""
        deadline = time.time() + timeout
        while self._webhook_queue.unfinished_tasks and time.time() < deadline:
            time.sleep(0.02)

    def _queue_webhook(self, topic: str, shop: str, payload: dict[str, Any]) -> None:
        if not self.webhook_url:
            return
        if self.subscribed_topics is not None and topic not in self.subscribed_topics:
            self.stats.webhooks_unsubscribed += 1  # Shopify sends only what the app subscribed to
            return
        with self.lock:
            if self._holding:
                body = json.dumps(payload, separators=(",", ":")).encode()
                self._held.append(HeldWebhook(topic, shop, payload, body, self.webhook_headers(topic, shop, body)))
                return
        self._webhook_queue.put((topic, shop, payload))

    def _webhook_worker(self) -> None:
        while True:
            item = self._webhook_queue.get()
            try:
                if item is None:
                    return
                topic, shop, payload = item
                try:
                    self.send_webhook(topic, shop, payload)
                except Exception:  # a delivery bug must not kill the worker thread
                    log.exception("webhook delivery crashed")
            finally:
                self._webhook_queue.task_done()

    def schedule_bulk_finish(self, shop: EmuShop, op: EmuBulkOperation) -> None:
        if not self.webhook_url:
            return
        payload = {
            "admin_graphql_api_id": op.gid,
            "completed_at": None,
            "created_at": None,
            "error_code": None,
            "status": "completed",
            "type": "query",
        }

        def later() -> None:
            time.sleep(max(0.0, op.completes_at - time.time()))
            self._queue_webhook("bulk_operations/finish", shop.domain, payload)

        threading.Thread(target=later, daemon=True).start()

    # -- WSGI -----------------------------------------------------------------------------------------------------
    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        adapter = self._url_map.bind_to_environ(environ)
        try:
            endpoint, args = adapter.match()
            response = getattr(self, f"_on_{endpoint}")(request, **args)
        except HTTPException as exc:
            response = exc.get_response(environ)
        return response(environ, start_response)

    def _shop_for(self, request: Request, *, allow_query: bool = False) -> EmuShop:
        host = (request.headers.get("Host") or "").split(":")[0].lower()
        shop = self.shops.get(host)
        if shop is None and allow_query:  # a browser cannot set Host: plugin.shopify.urls.browser_url adds ?shop=
            host = request.args.get("shop", "").lower()
            shop = self.shops.get(host)
        if shop is None:
            raise NotFound(f"No shop at {host!r}: add it with emu.add_shop() and send Host: <shop domain>")
        return shop

    @staticmethod
    def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(payload), status=status, mimetype="application/json", headers=headers)

    def _on_health(self, request: Request) -> Response:
        return self._json({"ok": True, "shops": sorted(self.shops)})

    # -- OAuth ------------------------------------------------------------------------------------------------
    def _form(self, request: Request) -> dict[str, str]:
        if request.mimetype == "application/json":
            return {k: str(v) for k, v in (request.get_json(silent=True) or {}).items()}
        return request.form.to_dict()

    def _on_access_token(self, request: Request) -> Response:
        shop = self._shop_for(request)
        form = self._form(request)
        if form.get("client_id") != self.api_key or not hmac.compare_digest(
            form.get("client_secret", ""), self.api_secret
        ):
            return self._json({"error": "invalid_client", "error_description": "Client credentials are invalid"}, 401)
        grant = form.get("grant_type")
        if grant == TOKEN_EXCHANGE:
            return self._token_exchange(shop, form)
        if grant == "refresh_token":
            return self._refresh(shop, form)
        if grant in (None, "", "authorization_code") and form.get("code"):
            return self._authorization_code(shop, form)
        return self._json({"error": "unsupported_grant_type", "error_description": f"grant_type {grant!r}"}, 400)

    def _token_exchange(self, shop: EmuShop, form: dict[str, str]) -> Response:
        if form.get("subject_token_type") != ID_TOKEN_TYPE:
            return self._json({"error": "invalid_request", "error_description": "subject_token_type"}, 400)
        try:
            claims = jwt.decode(
                form.get("subject_token", ""),
                self.api_secret,
                algorithms=["HS256"],
                audience=self.api_key,
                leeway=10,
                options={"require": ["exp", "dest", "aud"]},
            )
        except jwt.PyJWTError as exc:
            return self._json({"error": "invalid_subject_token", "error_description": str(exc)}, 400)
        if claims["dest"].removeprefix("https://").rstrip("/") != shop.domain:
            return self._json({"error": "invalid_subject_token", "error_description": "dest is another shop"}, 400)
        requested = form.get("requested_token_type")
        with self.lock:
            self.stats.token_exchange += 1
            if requested == ONLINE:
                token = self.issue_access_token(shop.domain, expires_in=86399)
                return self._json(
                    {
                        "access_token": token,
                        "scope": shop.scopes,
                        "expires_in": 86399,
                        "associated_user_scope": shop.scopes,
                        "associated_user": {
                            "id": int(claims.get("sub") or 1),
                            "first_name": "Emu",
                            "last_name": "User",
                            "email": f"staff@{shop.domain}",
                            "account_owner": True,
                            "locale": "en",
                            "collaborator": False,
                            "email_verified": True,
                        },
                    }
                )
            if requested != OFFLINE:
                return self._json({"error": "invalid_request", "error_description": "requested_token_type"}, 400)
            return self._json(self._offline_pair(shop, expiring=form.get("expiring") in ("1", "true")))

    def _offline_pair(self, shop: EmuShop, *, expiring: bool) -> dict[str, Any]:
        if not expiring:
            return {
                "access_token": self.issue_access_token(shop.domain, expires_in=None),
                "scope": shop.scopes,
            }
        refresh = "shprt_" + secrets.token_hex(16)
        self.refresh_tokens[refresh] = RefreshRecord(shop.domain, time.time() + REFRESH_TTL)
        return {
            "access_token": self.issue_access_token(shop.domain, expires_in=self.access_token_ttl),
            "scope": shop.scopes,
            "expires_in": self.access_token_ttl,
            "refresh_token": refresh,
            "refresh_token_expires_in": REFRESH_TTL,
        }

    def _refresh(self, shop: EmuShop, form: dict[str, str]) -> Response:
        with self.lock:
            if shop.domain in self.refresh_refusals:
                status, error = self.refresh_refusals[shop.domain]
                return self._json({"error": error, "error_description": "refresh refused"}, status)
            presented = form.get("refresh_token", "")
            record = self.refresh_tokens.get(presented)
            if record is None or record.shop != shop.domain or record.revoked or record.expires_at < time.time():
                return self._json({"error": "invalid_grant", "error_description": "refresh token is invalid"}, 400)
            # using a successor token retires its predecessors (Shopify's recovery-window rule)
            for rt in self.refresh_tokens.values():
                if presented in rt.successors:
                    rt.revoked = True
            pair = self._offline_pair(shop, expiring=True)
            record.successors.add(pair["refresh_token"])
            if not self.refresh_recovery_window:
                record.revoked = True
            self.stats.refresh += 1
            left, status = self.refresh_lost_answers.get(shop.domain, (0, 0))
            if left > 0:  # rotated, then the answer is lost on Shopify's side
                self.refresh_lost_answers[shop.domain] = (left - 1, status)
                self.stats.refresh_answers_lost += 1
                return self._json({"errors": "Internal Server Error"}, status)
            return self._json(pair)

    def _authorization_code(self, shop: EmuShop, form: dict[str, str]) -> Response:
        with self.lock:
            issued = self.auth_codes.pop(form["code"], None)
            if issued is None or issued[0] != shop.domain:
                return self._json({"error": "invalid_request", "error_description": "authorization code"}, 400)
            self.stats.authorization_code += 1
            return self._json(self._offline_pair(shop, expiring=form.get("expiring") in ("1", "true")))

    def _on_authorize(self, request: Request) -> Response:
        shop = self._shop_for(request, allow_query=True)
        args = request.args
        if args.get("client_id") != self.api_key or not args.get("redirect_uri"):
            return Response("client_id or redirect_uri is wrong", status=400)
        code = secrets.token_hex(16)
        with self.lock:
            self.auth_codes[code] = (shop.domain, time.time())
        params = {
            "code": code,
            "host": base64.urlsafe_b64encode(f"{shop.domain}/admin".encode()).decode().rstrip("="),
            "shop": shop.domain,
            "state": args.get("state", ""),
            "timestamp": str(int(time.time())),
        }
        message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        params["hmac"] = self.sign(message)
        sep = "&" if "?" in args["redirect_uri"] else "?"
        return Response(status=302, headers={"Location": f"{args['redirect_uri']}{sep}{urlencode(params)}"})

    # -- GraphQL ---------------------------------------------------------------------------------------------
    def _on_graphql(self, request: Request, version: str) -> Response:
        if version not in self.api_versions:
            return Response("Not Found", status=404)
        shop = self._shop_for(request)
        token = request.headers.get("X-Shopify-Access-Token", "")
        record = self.tokens.get(token)
        if record is None or record.shop != shop.domain or (record.expires_at and record.expires_at < time.time()):
            self.stats.unauthorized += 1
            return self._json(
                {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
                401,
            )
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return self._json({"errors": [{"message": "Missing query: POST JSON {query, variables}"}]}, 400)
        variables = body.get("variables") or {}
        try:
            document = parse(body["query"])
        except GraphQLError as exc:
            return self._json({"errors": [exc.formatted]})
        operation = get_operation_ast(document, body.get("operationName"))
        op_name = operation.name.value if operation and operation.name else "anonymous"
        if self.before_graphql is not None:
            self.before_graphql(op_name)  # a test's hook: something else goes wrong while Shopify is being asked

        if self.faults.roll("http_429", op_name):
            self.stats.http_429 += 1
            return self._json(
                {
                    "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume "
                    "uninterrupted service."
                },
                429,
                {"Retry-After": f"{self.faults.retry_after:g}"},
            )
        if self.faults.roll("http_5xx", op_name):
            self.stats.http_5xx += 1
            return self._json({"errors": "Internal Server Error (injected)"}, self._rng.choice((500, 502, 503)))

        schema = load_schema(version)
        headers: dict[str, str] = {"X-Request-Id": str(uuid.uuid4())}
        problems = validate(schema, document, spec_rules)
        deprecated = [] if problems else validate(schema, document, [NoDeprecatedCustomRule])
        if not problems and deprecated:
            if self.reject_deprecated:
                problems = deprecated
            else:
                headers["X-Shopify-API-Deprecated-Reason"] = (
                    "https://shopify.dev/api/usage/versioning#deprecation-practices"
                )
        if problems or operation is None:
            errors = [e.formatted for e in problems] or [{"message": "No operation to run"}]
            for err in errors:
                err.setdefault("extensions", {})["code"] = "GRAPHQL_VALIDATION_FAILED"
            return self._json({"errors": errors}, headers=headers)

        denied = denied_fields(schema, document, operation, version, shop.scopes.split(","))
        if denied:  # the token lacks a scope the schema's access metadata asks for: nothing runs
            self.stats.access_denied += 1
            return self._json({"errors": access_denied_errors(denied), "data": None}, headers=headers)

        with self.lock:
            result = self._run(schema, document, operation, op_name, variables, shop, version, request)
        if self.faults.roll("timeout", op_name):
            self.stats.timeouts += 1
            time.sleep(self.faults.timeout_sleep)  # the work is done; the client gives up before this answer
        return self._json(result, headers=headers)

    def _run(
        self,
        schema: Any,
        document: Any,
        operation: OperationDefinitionNode,
        op_name: str,
        variables: dict[str, Any],
        shop: EmuShop,
        version: str,
        request: Request,
    ) -> dict[str, Any]:
        self.stats.graphql_requests += 1
        try:
            requested = CostCalculator(schema, document, variables).operation_cost(operation)
        except (GraphQLError, KeyError, TypeError, ValueError):
            requested = 1  # bad variables: execution reports them
        bucket = shop.bucket
        bucket.refill()
        if requested > MAX_QUERY_COST:
            return {
                "errors": [
                    {
                        "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                        f"({MAX_QUERY_COST}).",
                        "extensions": {
                            "code": "MAX_COST_EXCEEDED",
                            "cost": requested,
                            "maxCost": MAX_QUERY_COST,
                        },
                    }
                ]
            }
        if self.faults.roll("throttled", op_name) or requested > bucket.available:
            self.stats.throttled += 1
            return {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": requested,
                        "actualQueryCost": None,
                        "throttleStatus": bucket.status(),
                    }
                },
            }
        bucket.available -= requested
        origin = request.host_url.rstrip("/")
        ctx = Ctx(self, shop, self.origin or origin, version)
        is_mutation = operation.operation.value == "mutation"
        root = mutation_root(ctx) if is_mutation else query_root(ctx)
        result = execute_sync(  # synchronous resolvers: a plain ExecutionResult
            schema,
            document,
            root_value=root,
            context_value=ctx,
            variable_values=variables,
            operation_name=operation.name.value if operation.name else None,
            field_resolver=field_resolver,
            type_resolver=type_resolver,
        )
        payload: dict[str, Any] = {}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        if result.data is not None:
            payload["data"] = result.data
        try:
            actual = CostCalculator(schema, document, variables).operation_cost(operation, result.data or {})
        except (GraphQLError, KeyError, TypeError, ValueError):
            actual = requested
        actual = min(actual, requested)
        bucket.available = min(bucket.maximum, bucket.available + (requested - actual))
        self.stats.graphql_cost += actual
        self.stats.requested_cost += requested
        self.stats.operations[op_name] += 1
        self.stats.costs[op_name] += actual
        payload["extensions"] = {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": bucket.status(),
            }
        }
        for pid in ctx.touched_products:
            if pid in shop.products:
                self._queue_webhook(
                    "products/update",
                    shop.domain,
                    product_rest_payload(shop, shop.products[pid], self.origin),
                )
        return payload

    # -- staged uploads, CDN, bulk files ------------------------------------------------------------------------
    def _on_staged_upload(self, request: Request, token: str) -> Response:
        staged = self.staged.get(token)
        if staged is None:
            return Response("<Error><Code>NoSuchUpload</Code></Error>", status=404, mimetype="application/xml")
        if request.method == "PUT":
            staged.data = request.get_data()
            self.stats.staged_uploads += 1
            return Response(status=200)
        try:
            fields, file_bytes, file_last = _read_multipart(request)
        except ValueError as exc:
            return _xml_error("InvalidArgument", str(exc))
        if file_bytes is None:
            return _xml_error("InvalidArgument", "The POST must carry the file in a field named 'file'.")
        if not file_last:
            # Cloud storage POST policies ignore fields after the file, so the policy fails: the common mistake.
            return _xml_error("InvalidArgument", "The file must be the last field of the multipart form.")
        for name, value in staged.parameters:
            if fields.get(name) != value:
                return _xml_error("AccessDenied", f"Form field {name!r} is missing or differs from the parameters.")
        staged.data = file_bytes
        self.stats.staged_uploads += 1
        location = f"{self.origin}/staged/{token}/{staged.filename}"
        return Response(
            f"<PostResponse><Location>{location}</Location><Key>{staged.key}</Key></PostResponse>",
            status=201,
            mimetype="application/xml",
        )

    def _on_staged_file(self, request: Request, token: str, filename: str) -> Response:
        staged = self.staged.get(token)
        if staged is None or staged.data is None or staged.filename != filename:
            raise NotFound()
        return Response(staged.data, mimetype=staged.mime)

    # -- billing: the admin's approval page --------------------------------------------------------------------
    def approve_subscription(self, shop: str, subscription_id: str, *, accept: bool = True) -> None:
        """What the merchant's click on the approval page does (without the redirect)."""
        with self.lock:
            shop_ = self.shop(shop)
            billing.approve(shop_, shop_.subscriptions[subscription_id], accept=accept)

    def _on_charge_confirm(self, request: Request, num: int) -> Response:
        """The confirmation URL: approves (or with `decline=1` declines) and redirects to the app's returnUrl with
        `charge_id`, like the admin does after the merchant's click."""
        shop = self._shop_for(request, allow_query=True)
        if not hmac.compare_digest(billing.sign(self.api_secret, shop.domain, num), request.args.get("signature", "")):
            return Response("Invalid signature", status=403)
        sub = shop.subscriptions.get(f"gid://shopify/AppSubscription/{num}")
        if sub is None:
            raise NotFound()
        with self.lock:
            billing.approve(shop, sub, accept=request.args.get("decline") != "1")
        separator = "&" if "?" in sub.return_url else "?"
        return Response(status=302, headers={"Location": f"{sub.return_url}{separator}charge_id={num}"})

    def original_source_url(self, origin: str, shop: EmuShop, media: EmuMedia) -> str:
        """A signed, short-lived URL of the stored original: an opaque key, no filename (the app must not read its
        file's name from here), refused once `expires` has passed, as Shopify's signed storage URLs are."""
        expires = math.ceil(time.time() + self.original_source_ttl)  # whole seconds, as signed URLs carry
        key = f"{shop.num}/{media.gid.rsplit('/', 1)[-1]}/{expires}"
        signature = hmac.new(self.api_secret.encode(), key.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{origin}/originals/{shop.num}/{uuid.uuid5(uuid.NAMESPACE_URL, media.gid).hex}?" + urlencode(
            {"expires": expires, "media": media.gid.rsplit("/", 1)[-1], "signature": signature}
        )

    def _on_original(self, request: Request, shop_num: int, key: str) -> Response:
        expires, num = request.args.get("expires", ""), request.args.get("media", "")
        signed = f"{shop_num}/{num}/{expires}"
        expected = hmac.new(self.api_secret.encode(), signed.encode(), hashlib.sha256).hexdigest()[:32]
        if not expires.isdigit() or not hmac.compare_digest(expected, request.args.get("signature", "")):
            return _xml_error("SignatureDoesNotMatch", "The request signature does not match.", 403)
        if int(expires) < time.time():
            return _xml_error("AccessDenied", "Request has expired.", 403)
        for shop in self.shops.values():
            media = shop.media.get(f"gid://shopify/MediaImage/{num}") if shop.num == shop_num else None
            if media is not None and uuid.uuid5(uuid.NAMESPACE_URL, media.gid).hex == key:
                return Response(media.data, mimetype=media.mime, headers={"Cache-Control": "private, no-store"})
        raise NotFound()

    def _on_cdn(self, request: Request, shop_num: int, filename: str) -> Response:
        for shop in self.shops.values():
            if shop.num != shop_num:
                continue
            for media in shop.media.values():
                if media.filename == filename and media.status() == MediaStatus.READY:
                    return Response(media.data, mimetype=media.mime, headers={"Cache-Control": "max-age=300"})
        raise NotFound()

    def _on_bulk_file(self, request: Request, token: str) -> Response:
        op = self.bulk_files.get(token)
        if op is None or time.time() < op.completes_at:
            raise NotFound()
        body = "\n".join(op.lines) + ("\n" if op.lines else "")
        return Response(body, mimetype="application/jsonl")


class _QuietHandler(WSGIRequestHandler):
    """No access log lines on stderr (tests run thousands of requests); errors still go to logging."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def _xml_error(code: str, message: str, status: int = 400) -> Response:
    return Response(
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>",
        status=status,
        mimetype="application/xml",
    )


def _read_multipart(request: Request) -> tuple[dict[str, str], bytes | None, bool]:
    """Fields in wire order: (form fields, file bytes, whether the file was the last part)."""
    boundary = request.mimetype_params.get("boundary")
    if request.mimetype != "multipart/form-data" or not boundary:
        raise ValueError("Expected multipart/form-data with a boundary.")
    decoder = MultipartDecoder(boundary.encode())
    decoder.receive_data(request.get_data())
    decoder.receive_data(None)
    parts: list[tuple[str, bool, bytearray]] = []
    while True:
        event = decoder.next_event()
        if isinstance(event, NeedData | Epilogue):
            break
        if isinstance(event, File | Field):
            parts.append((event.name, isinstance(event, File), bytearray()))
        elif isinstance(event, Data):
            parts[-1][2].extend(event.data)
    fields: dict[str, str] = {}
    file_bytes: bytes | None = None
    for name, is_file, data in parts:
        if name == "file":
            file_bytes = bytes(data)
        elif not is_file:
            fields[name] = data.decode()
    file_last = bool(parts) and parts[-1][0] == "file"
    return fields, file_bytes, file_last


__all__ = ["EmuStats", "ShopifyEmulator"]
