"""The embedded admin's pages: thin routes rendering a Jinja shell; each page's data comes from the JSON API.

Every route is a document request from the Shopify admin iframe, so it authenticates with the `id_token`
query parameter (`require_page_session`). The pages carry no data of their own beyond what the scripts need
to start: the UI strings, the shop's store handle (for links into the Shopify admin), the skeleton model
(joint names and bones, from `gpu_worker.pose.skeleton`, so the SVG figures and the editor draw exactly the
engine's skeleton) and the id the page is about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, g, render_template, request

from gpu_worker.pose.skeleton import BONES, MP_LANDMARKS
from plugin import i18n
from plugin.shopify.auth import require_page_session

REPO_ROOT = Path(__file__).resolve().parents[2]

# This blueprint serves the static files under /ui, so the pages work whatever the app's static folder is.
bp = Blueprint(
    "pages",
    __name__,
    template_folder=str(REPO_ROOT / "templates"),
    static_folder=str(REPO_ROOT / "plugin" / "static"),
    static_url_path="/ui",
)

# Query parameters Shopify adds to an embedded app's URL that in-app links keep (never id_token: a link is
# followed later, when that token is stale; the page-session bounce fetches a fresh one).
CARRIED_PARAMS = ("shop", "host", "embedded", "locale")


@bp.record_once
def _register_i18n(state: Any) -> None:
    i18n.init_app(state.app)


@bp.app_context_processor
def _link_helpers() -> dict[str, Any]:
    return {"app_url": app_url}


def app_url(path: str, **params: Any) -> str:
    """An in-app link that keeps Shopify's shop/host parameters of the current request."""
    query = {k: request.args[k] for k in CARRIED_PARAMS if k in request.args}
    query.update({k: v for k, v in params.items() if v is not None})
    return f"{path}?{urlencode(query)}" if query else path


def shop_domain() -> str:
    """The authenticated shop's myshopify domain (`g.shop_domain`, else `g.shop` as a row or a string)."""
    if isinstance(g.get("shop_domain"), str):
        return g.shop_domain
    shop = g.shop
    for attribute in ("domain", "shop_domain", "myshopify_domain"):
        value = getattr(shop, attribute, None)
        if isinstance(value, str) and value:
            return value
    return str(shop)


def render_page(template: str, *, nav: str, title_key: str, **page: Any) -> str:
    domain = shop_domain()
    page_context = {
        "page": nav,
        "shop": domain,
        # https://admin.shopify.com/store/<handle>/products/<id> is the admin's own URL scheme.
        "store_handle": domain.removesuffix(".myshopify.com"),
        "admin_base": "https://admin.shopify.com/store/" + domain.removesuffix(".myshopify.com"),
        "carried_params": {k: request.args[k] for k in CARRIED_PARAMS if k in request.args},
        "skeleton": {"landmarks": list(MP_LANDMARKS), "bones": [list(b) for b in BONES]},
        **page,
    }
    return render_template(
        template,
        nav=nav,
        title_key=title_key,
        locale=i18n.DEFAULT_LOCALE,
        api_key=current_app.config["SHOPIFY_API_KEY"],
        strings=i18n.catalogue(i18n.DEFAULT_LOCALE),
        page_context=page_context,
        **page,
    )


@bp.get("/")
@require_page_session
def home() -> str:
    return render_page("home.html", nav="home", title_key="home.heading")


@bp.get("/products")
@require_page_session
def products() -> str:
    return render_page("products.html", nav="products", title_key="products.heading")


@bp.get("/pose-sets")
@require_page_session
def pose_sets() -> str:
    return render_page("pose_sets.html", nav="pose_sets", title_key="pose_sets.heading")


@bp.get("/pose-sets/editor")
@require_page_session
def pose_editor() -> str:
    product_id = _clean_id(request.args.get("product"))
    set_id = request.args.get("set") or None
    return render_page(
        "pose_editor.html",
        nav="pose_editor",
        title_key="editor.heading_product" if product_id else "editor.heading_set",
        product_id=product_id,
        set_id=set_id,
        source=request.args.get("source") or None,
        max_photo_bytes=current_app.config["POSE_STUDIO_MAX_PHOTO_BYTES"],
    )


@bp.get("/jobs")
@require_page_session
def jobs() -> str:
    return render_page("jobs.html", nav="jobs", title_key="jobs.heading")


@bp.get("/review")
@bp.get("/review/<kind>/<ref>")
@require_page_session
def review(kind: str | None = None, ref: str | None = None) -> str:
    """All work awaiting review, one product's (`/review/product/<id>`) or one job's (`/review/job/<id>`)."""
    if kind not in (None, "product", "job"):
        abort(404)
    ref = _clean_id(ref)
    return render_page(
        "review.html",
        nav="review",
        title_key="review.heading",
        review_product=ref if kind == "product" else None,
        review_job=ref if kind == "job" else None,
    )


@bp.get("/settings")
@require_page_session
def settings() -> str:
    return render_page("settings.html", nav="settings", title_key="settings.heading")


def _clean_id(value: str | None) -> str | None:
    """A product/job id from a URL: the numeric tail of a Shopify GID, or the id as given; None if empty."""
    if not value:
        return None
    value = value.rsplit("/", 1)[-1]
    if not value.replace("-", "").replace("_", "").isalnum() or len(value) > 64:
        abort(404)
    return value
