"""Download a product's source image from Shopify's CDN, and nothing else (SSRF guard), then decode and re-encode it.

Rules (OWASP SSRF cheat sheet; ASVS 1.3.6, 5.2.2, 5.2.6):
- hosts: `cdn.shopify.com`, the shop's own `<shop>.myshopify.com/cdn/...`, or the configured emulator origin (dev/test);
- `https` only (plain `http` only for the emulator origin);
- the host's addresses must all be public (no 127/8, 10/8, 169.254/16 …), except for the emulator origin;
- redirects are followed by hand, at most 3, and each hop is checked again (a CDN redirect to another host is refused);
- connect/read timeouts and a byte cap while streaming;
- decoded with a format allowlist and a pixel cap before any pixel is decoded, then re-encoded to a clean PNG (no EXIF,
  no ICC tricks), long side capped. The content hash is over the decoded pixels, so a re-compressed copy of the same
  picture hashes the same.

Known gap: the IP check and the connection are separate DNS lookups (DNS rebinding); the hosts allowed are
Shopify's own.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import socket
import warnings
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from PIL import Image, ImageOps, UnidentifiedImageError

from gpu_worker.pose.image_io import to_rgb

SHOPIFY_CDN_HOSTS = frozenset({"cdn.shopify.com"})
ALLOWED_FORMATS = ["JPEG", "PNG", "WEBP", "GIF"]
MAX_REDIRECTS = 3


class FetchRejected(Exception):
    """The source image cannot be fetched or used; `str(e)` says what was wrong and what to do."""


class HostNotAllowed(FetchRejected):
    pass


class SourceTooLarge(FetchRejected):
    pass


class NotAnImage(FetchRejected):
    pass


@dataclass(frozen=True)
class FetchPolicy:
    shop_domain: str
    emulator_origin: str | None = None  # e.g. "http://127.0.0.1:8765": dev/test only
    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_side: int = 2048
    timeout: tuple[float, float] = (3.05, 20.0)


@dataclass(frozen=True)
class FetchedImage:
    png: bytes
    content_hash: str
    width: int
    height: int
    url: str


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def check_url(url: str, policy: FetchPolicy) -> None:
    """Raise HostNotAllowed unless `url` is one we may fetch under `policy`."""
    parts = urlsplit(url)
    scheme, host, port = _origin(url)
    if parts.username or parts.password:
        raise HostNotAllowed("image URLs with credentials are not accepted")
    if policy.emulator_origin and (scheme, host, port) == _origin(policy.emulator_origin):
        return  # the local Shopify emulator: the only origin allowed over http and on a private address
    if scheme != "https":
        raise HostNotAllowed(f"only https image URLs are fetched, not {scheme or 'none'}://")
    shop_host = policy.shop_domain.lower()
    on_cdn = host in SHOPIFY_CDN_HOSTS
    on_shop_cdn = host == shop_host and host.endswith(".myshopify.com") and parts.path.startswith("/cdn/")
    if not (on_cdn or on_shop_cdn) or port != 443:
        raise HostNotAllowed(
            f"images are fetched only from Shopify's CDN (cdn.shopify.com or {shop_host}/cdn), not from {host}; "
            "upload the image to the product in Shopify"
        )
    _check_public(host, port)


def _check_public(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise FetchRejected(f"could not resolve {host} ({exc}); try again later") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not addr.is_global:
            raise HostNotAllowed(f"{host} resolves to a non-public address; refusing to fetch")


def fetch_bytes(url: str, policy: FetchPolicy, session: requests.Session | None = None) -> tuple[bytes, str]:
    """GET `url` under `policy`; returns (body, final url)."""
    http = session or requests.Session()
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, policy)
        try:
            resp = http.get(url, stream=True, timeout=policy.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise FetchRejected(f"could not download the image ({type(exc).__name__}); try again later") from None
        with resp:
            if resp.is_redirect:
                url = urljoin(url, resp.headers.get("Location", ""))
                continue
            if resp.status_code != 200:
                raise FetchRejected(f"the image download answered HTTP {resp.status_code}; check the product image")
            declared = int(resp.headers.get("Content-Length") or 0)
            if declared > policy.max_bytes:
                raise SourceTooLarge(_too_large(declared, policy))
            buf = bytearray()
            for chunk in resp.iter_content(64 * 1024):
                buf += chunk
                if len(buf) > policy.max_bytes:
                    raise SourceTooLarge(_too_large(len(buf), policy))
            return bytes(buf), url
    raise HostNotAllowed(f"the image URL redirected more than {MAX_REDIRECTS} times; refusing to follow")


def _too_large(n: int, policy: FetchPolicy) -> str:
    return f"the image is over {policy.max_bytes // (1024 * 1024)} MB ({n} bytes); upload a smaller image"


def reencode(data: bytes, policy: FetchPolicy) -> tuple[bytes, str, int, int]:
    """Decode `data` (allowlisted formats, pixel cap first) → clean RGB PNG, content hash, width, height."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im: Image.Image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            w, h = im.size
            if w * h > policy.max_pixels:
                raise SourceTooLarge(
                    f"the image is {w}x{h}, over the {policy.max_pixels // 1_000_000} megapixel limit; "
                    "upload a smaller image"
                )
            im.load()
    except SourceTooLarge:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise NotAnImage(f"the file is not a JPEG, PNG, WebP or GIF image ({exc}); upload a photo") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise NotAnImage(f"the image file is damaged ({exc}); export it again and re-upload") from None
    try:
        im = ImageOps.exif_transpose(im)
        # the same colour normaliser as the CLI and the GPU worker: PIL's convert("RGB") clips a 16-bit grey PNG
        # (values up to 65535) to white instead of scaling it
        im = to_rgb(im)
    except (OSError, ValueError, TypeError) as exc:
        raise NotAnImage(f"the image's colour format ({im.mode}) cannot be read ({exc}); save it as RGB") from None
    if max(im.size) > policy.max_side:
        im.thumbnail((policy.max_side, policy.max_side), Image.Resampling.LANCZOS)
    digest = hashlib.sha256(f"{im.width}x{im.height}:".encode() + im.tobytes()).hexdigest()
    out = io.BytesIO()
    im.save(out, format="PNG", optimize=False)
    return out.getvalue(), digest, im.width, im.height


def fetch_source_image(url: str, policy: FetchPolicy, session: requests.Session | None = None) -> FetchedImage:
    body, final_url = fetch_bytes(url, policy, session)
    png, digest, w, h = reencode(body, policy)
    return FetchedImage(png=png, content_hash=digest, width=w, height=h, url=final_url)
