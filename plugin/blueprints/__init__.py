"""Thin HTTP layer: one blueprint module per feature, each exporting `bp`. Register new ones here."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from plugin.blueprints import auth, pages, webhooks

    app.register_blueprint(auth.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(pages.bp)  # admin pages (nested)
    from plugin.blueprints import api  # JSON API of the job layer (issue 4)

    app.register_blueprint(api.bp)
    from plugin.blueprints import billing  # usage billing (issue 16): /api/billing*, /billing/return

    app.register_blueprint(billing.bp)
