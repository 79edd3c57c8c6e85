"""The source-image fetch: Shopify CDN only, https only (except the emulator origin), no foreign redirects, caps."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from plugin.security.safe_fetch import (
    FetchPolicy,
    FetchRejected,
    HostNotAllowed,
    NotAnImage,
    SourceTooLarge,
    check_url,
    fetch_source_image,
    reencode,
)

POLICY = FetchPolicy(shop_domain="demo.myshopify.com", emulator_origin="http://127.0.0.1:8765")


@pytest.mark.parametrize("url", [
    "http://cdn.shopify.com/s/files/a.jpg",  # not https
    "https://evil.example/a.jpg",
    "https://cdn.shopify.com.evil.example/a.jpg",
    "https://other.myshopify.com/cdn/shop/files/a.jpg",  # another shop
    "https://demo.myshopify.com/admin/a.jpg",  # the shop but not its /cdn
    "https://cdn.shopify.com:8443/a.jpg",
    "https://user:pw@cdn.shopify.com/a.jpg",
    "http://127.0.0.1:8766/cdn/a.jpg",  # the emulator host on another port
    "file:///etc/passwd",
    "gopher://cdn.shopify.com/a",
])  # fmt: skip
def test_refused_urls(url: str) -> None:
    with pytest.raises(HostNotAllowed):
        check_url(url, POLICY)


def test_emulator_origin_is_allowed_over_http() -> None:
    check_url("http://127.0.0.1:8765/cdn/shop/1/files/a.jpg", POLICY)


def _png(w: int, h: int, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h), (10, 20, 30) if mode == "RGB" else (10, 20, 30, 128)).save(buf, format="PNG")
    return buf.getvalue()


def test_reencode_gives_clean_png_and_pixel_hash() -> None:
    png, digest, w, h = reencode(_png(300, 200, "RGBA"), POLICY)
    assert (w, h) == (300, 200) and png.startswith(b"\x89PNG")
    # the same pixels in another container hash the same
    buf = io.BytesIO()
    Image.open(io.BytesIO(png)).save(buf, format="WEBP", lossless=True)
    assert reencode(buf.getvalue(), POLICY)[1] == digest


def test_reencode_refuses_pixel_floods_and_non_images() -> None:
    with pytest.raises(SourceTooLarge):
        reencode(_png(3000, 3000), FetchPolicy(shop_domain="d.myshopify.com", max_pixels=1_000_000))
    with pytest.raises(NotAnImage):
        reencode(b"<svg xmlns='http://www.w3.org/2000/svg'/>", POLICY)
    with pytest.raises(NotAnImage):
        reencode(b"BM" + b"\0" * 100, POLICY)  # BMP is not on the allowlist


def test_fetch_refuses_redirect_to_another_host_and_oversize() -> None:
    import threading

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/redirect":
            return Response(status=302, headers={"Location": "https://evil.example/x.png"})
        if request.path == "/big":
            return Response(b"\0" * 5000, mimetype="image/png")
        return Response(_png(80, 80), mimetype="image/png")

    server = make_server("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_port}"
    policy = FetchPolicy(shop_domain="d.myshopify.com", emulator_origin=origin, max_bytes=4000)
    try:
        assert fetch_source_image(f"{origin}/ok.png", policy).width == 80
        with pytest.raises(HostNotAllowed):
            fetch_source_image(f"{origin}/redirect", policy)
        with pytest.raises(SourceTooLarge):
            fetch_source_image(f"{origin}/big", policy)
        with pytest.raises(FetchRejected):
            fetch_source_image(f"{origin}/missing-but-200", FetchPolicy(shop_domain="d.myshopify.com",
                                                                         emulator_origin=origin, max_bytes=10))
    finally:
        server.shutdown()
