"""Is a redirect target a path on this app? For App Bridge's patch-id-token bounce (`shopify-reload`).

A `startswith("/")` guard is not enough: browsers treat `\\` like `/` in special URLs (`/\\evil.com` is
`//evil.com`, another host) and drop tab, CR and LF anywhere in a URL (`/\\t/evil.com` is `//evil.com`); WHATWG URL
Standard, "URL parsing" (backslash as a path separator; ASCII tab or newline removed). So the target is decoded once
(a browser decodes nothing in the path, but the value may pass through another redirect that does), refused if it
carries a backslash or any control or whitespace character, and then parsed: no scheme, no host, a path that starts
with exactly one slash, and resolving it against the app's own URL must stay on the app's origin.
"""

from __future__ import annotations

from urllib.parse import unquote, urljoin, urlsplit


def _has_forbidden(value: str) -> bool:
    return any(ch == "\\" or ord(ch) < 0x21 or ord(ch) == 0x7F or ch.isspace() for ch in value)


def same_origin_path(target: str, app_url: str) -> str | None:
    """`target` when it is a same-origin path (with its query) on `app_url`, else None."""
    if not target or _has_forbidden(target) or _has_forbidden(unquote(target)):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    app = urlsplit(app_url)
    resolved = urlsplit(urljoin(app_url.rstrip("/") + "/", target))
    if (resolved.scheme, resolved.netloc) != (app.scheme, app.netloc):
        return None
    return target
