"""Pose Studio Flask app: Shopify auth, webhooks, admin API, embedded pages, job dispatch.

Never imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure the app. Settings come from the environment; `config` overrides them (tests)."""
    from plugin.blueprints import register_blueprints
    from plugin.celery_app import celery_init_app
    from plugin.config import load_config
    from plugin.extensions import db, init_redis
    from plugin.security.body_limits import init_body_limits
    from plugin.security.crypto import init_cipher
    from plugin.security.headers import init_security_headers
    from pose_studio.log_redaction import install_log_redaction, register_secret_list, register_secrets

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(load_config(config, instance_path=app.instance_path))
    os.makedirs(app.instance_path, exist_ok=True)

    install_log_redaction()
    register_secrets(app.config["SHOPIFY_API_SECRET"], app.config["SHOPIFY_API_SECRET_PREVIOUS"])
    register_secret_list(k.strip() for k in app.config["POSE_STUDIO_ENCRYPTION_KEYS"].split(","))

    db.init_app(app)
    init_redis(app)
    init_cipher(app)
    celery_init_app(app)
    init_security_headers(app)
    register_blueprints(app)
    from plugin.observability import init_observability

    init_observability(app)
    # after observability's hook, so an oversized request is still timed and logged
    init_body_limits(app)
    return app
