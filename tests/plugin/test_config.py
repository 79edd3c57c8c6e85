"""Settings from the environment, validated at startup; admin_url routing for the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet

from plugin import create_app
from plugin.config import load_config, settings_table_markdown
from plugin.errors import ConfigError, InvalidShopDomain
from plugin.shopify.urls import admin_url

BASE_ENV = {
    "SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": "s" * 32, "SHOPIFY_APP_URL": "https://app.example",
    "REDIS_URL": "redis://127.0.0.1:6379/0", "POSE_STUDIO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
}


def test_production_defaults(tmp_path: Any) -> None:
    config = load_config(environ=BASE_ENV, instance_path=tmp_path)
    assert config["POSE_STUDIO_ENV"] == "production"
    assert config["SHOPIFY_API_VERSION"] == "2026-10"
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'pose-studio.sqlite'}"
    assert config["SECRET_KEY"] and config["SECRET_KEY"] != BASE_ENV["SHOPIFY_API_SECRET"]


def test_admin_origin_is_refused_in_production(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="SHOPIFY_ADMIN_ORIGIN"):
        load_config(environ={**BASE_ENV, "SHOPIFY_ADMIN_ORIGIN": "http://127.0.0.1:8081"}, instance_path=tmp_path)
    with pytest.raises(ConfigError, match="SHOPIFY_ADMIN_ORIGIN"):
        create_app({**BASE_ENV, "POSE_STUDIO_ENV": "production", "SHOPIFY_ADMIN_ORIGIN": "http://127.0.0.1:1"})


@pytest.mark.parametrize("env", ["development", "test"])
def test_admin_origin_is_allowed_in_development_and_test(tmp_path: Any, env: str) -> None:
    config = load_config(environ={**BASE_ENV, "POSE_STUDIO_ENV": env,
                                  "SHOPIFY_ADMIN_ORIGIN": "http://127.0.0.1:8081/"}, instance_path=tmp_path)
    assert config["SHOPIFY_ADMIN_ORIGIN"] == "http://127.0.0.1:8081"


def test_missing_settings_are_listed_together(tmp_path: Any) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config(environ={}, instance_path=tmp_path)
    message = str(excinfo.value)
    for name in ("SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "SHOPIFY_APP_URL", "REDIS_URL",
                 "POSE_STUDIO_ENCRYPTION_KEYS"):
        assert name in message


@pytest.mark.parametrize("overrides", [{"SHOPIFY_APP_URL": "http://app.example"}, {"POSE_STUDIO_ENV": "staging"}])
def test_invalid_values(tmp_path: Any, overrides: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_config(environ={**BASE_ENV, **overrides}, instance_path=tmp_path)


def test_overrides_win_over_environment(tmp_path: Any) -> None:
    config = load_config({"SHOPIFY_API_VERSION": "2026-07"}, environ={**BASE_ENV, "SHOPIFY_API_VERSION": "x"},
                         instance_path=tmp_path)
    assert config["SHOPIFY_API_VERSION"] == "2026-07"


def test_admin_url() -> None:
    assert admin_url("a.myshopify.com", "/admin/api/2026-10/graphql.json", config={}) == (
        "https://a.myshopify.com/admin/api/2026-10/graphql.json", {})
    assert admin_url("a.myshopify.com", "/admin/oauth/access_token",
                     config={"SHOPIFY_ADMIN_ORIGIN": "http://127.0.0.1:9000"}) == (
        "http://127.0.0.1:9000/admin/oauth/access_token", {"Host": "a.myshopify.com"})
    with pytest.raises(InvalidShopDomain):
        admin_url("a.myshopify.com.evil.com", "/admin", config={})


def test_settings_table_lists_every_variable() -> None:
    table = settings_table_markdown()
    for name in ("SHOPIFY_API_KEY", "SHOPIFY_ADMIN_ORIGIN", "POSE_STUDIO_ENCRYPTION_KEYS", "DATABASE_URL"):
        assert f"`{name}`" in table


def test_usage_billing_is_off_by_default_and_validated(tmp_path: Any) -> None:
    from decimal import Decimal

    config = load_config(environ=BASE_ENV, instance_path=tmp_path)
    assert config["POSE_STUDIO_BILLING"] is False and config["POSE_STUDIO_BILLING_TEST"] is False  # production
    on = load_config(environ={**BASE_ENV, "POSE_STUDIO_BILLING": "usage", "POSE_STUDIO_BILLING_PRICE": "0.25",
                              "POSE_STUDIO_BILLING_CAP": "100", "POSE_STUDIO_ENV": "development"},
                     instance_path=tmp_path)  # fmt: skip
    assert on["POSE_STUDIO_BILLING"] is True and on["POSE_STUDIO_BILLING_TEST"] is True  # test charges off production
    assert (on["POSE_STUDIO_BILLING_PRICE"], on["POSE_STUDIO_BILLING_CAP"]) == (Decimal("0.25"), Decimal("100"))
    for bad in ({"POSE_STUDIO_BILLING": "yes"}, {"POSE_STUDIO_BILLING_PRICE": "-1"},
                {"POSE_STUDIO_BILLING_PRICE": "0.001"}, {"POSE_STUDIO_BILLING_CAP": "0.05"},
                {"POSE_STUDIO_BILLING_CURRENCY": "dollars"}):  # fmt: skip
        with pytest.raises(ConfigError, match="POSE_STUDIO_BILLING"):
            load_config(environ={**BASE_ENV, **bad}, instance_path=tmp_path)


@pytest.mark.parametrize("env", [{}, {"POSE_STUDIO_BILLING": "usage", "POSE_STUDIO_BILLING_TEST": "1",
                                      "POSE_STUDIO_CORS_ORIGINS": "https://a.example,https://b.example:8443"}])
def test_a_loaded_configuration_passed_back_in_loads_unchanged(tmp_path: Any, env: dict[str, str]) -> None:
    """A second app made from the first app's config (the e2e stack does it) sees the same settings, not strings of
    already parsed values ("frozenset({...})", "True") refused as invalid."""
    first = load_config(environ={**BASE_ENV, **env}, instance_path=tmp_path)
    again = load_config({k: v for k, v in first.items() if k.isupper()}, environ=BASE_ENV, instance_path=tmp_path)
    for key in ("POSE_STUDIO_CORS_ORIGINS", "POSE_STUDIO_BILLING", "POSE_STUDIO_BILLING_TEST"):
        assert again[key] == first[key], key
