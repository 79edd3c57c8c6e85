"""Every user-facing string of the embedded admin, one file per language (`en.json`), ready for translation.

Templates call `t("products.heading")`; the page's JavaScript reads the same catalogue from a JSON script
tag the base layout writes (`static/i18n.js`). Keys are dotted paths into the JSON; `{name}` placeholders
are filled from keyword arguments. A missing key is a bug: `translate` raises `MissingString` so tests catch
it instead of showing a raw key to a merchant.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask

from plugin.errors import PluginError

CATALOGUE_DIR = Path(__file__).resolve().parent
DEFAULT_LOCALE = "en"


class MissingString(PluginError, KeyError):
    """A template asked for a key that is not in the catalogue: add it to plugin/i18n/en.json."""


@cache
def catalogue(locale: str = DEFAULT_LOCALE) -> dict[str, Any]:
    """The nested string table of `locale` (falls back to English for a locale without a file)."""
    path = CATALOGUE_DIR / f"{locale}.json"
    if not path.is_file():
        path = CATALOGUE_DIR / f"{DEFAULT_LOCALE}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def flat_keys(table: dict[str, Any], prefix: str = "") -> set[str]:
    """Every dotted key that names a string in `table`."""
    keys: set[str] = set()
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            keys |= flat_keys(value, key + ".")
        else:
            keys.add(key)
    return keys


def translate(key: str, locale: str = DEFAULT_LOCALE, **params: Any) -> str:
    """The string at dotted `key`, with `{placeholders}` filled from `params`."""
    node: Any = catalogue(locale)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise MissingString(f"no UI string '{key}': add it to plugin/i18n/{DEFAULT_LOCALE}.json")
        node = node[part]
    if not isinstance(node, str):
        raise MissingString(f"UI string '{key}' is a group, not a string: name one of its entries")
    return node.format(**params) if params else node


def init_app(app: Flask) -> None:
    """Make `t(...)` available in every Jinja template."""
    app.jinja_env.globals["t"] = translate
