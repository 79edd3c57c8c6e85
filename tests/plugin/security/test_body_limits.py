"""Oversized request bodies get a 413 JSON error before a byte of them is read (issue 12: a 400 MB POST grew a web
worker to 1.34 GiB; a 108 MB photo was read in full before its size check)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

MB = 1024 * 1024


class UnreadableBody(io.RawIOBase):
    """A request body of `size` bytes (the test client declares its length) that fails the test if anything reads
    it."""

    def __init__(self, size: int) -> None:
        self.size, self.pos = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = self.size + offset if whence == 2 else offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the oversized body was read")


@pytest.fixture
def session(make_shop: Any, id_token: Any) -> dict[str, str]:
    shop = make_shop()
    return {"Authorization": f"Bearer {id_token(shop.domain)}"}


@pytest.mark.parametrize(("path", "content_type", "declared"), [
    ("/api/jobs", "application/json", 400 * MB),
    ("/api/bulk", "application/json", 2 * MB),
    ("/api/settings", "application/json", 2 * MB),
    ("/api/pose-sets", "multipart/form-data; boundary=x", 108 * MB),
    ("/api/pose-sets", "application/json", 2 * MB),
])  # fmt: skip
def test_declared_oversized_api_body_is_413_json_before_reading(
    client: Any, session: dict[str, str], path: str, content_type: str, declared: int
) -> None:
    method = client.put if path == "/api/settings" else client.post
    response = method(path, input_stream=UnreadableBody(declared), headers={**session, "Content-Type": content_type})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_too_large"
    assert response.headers["Connection"] == "close"


def test_declared_oversized_webhook_is_413_before_reading(client: Any) -> None:
    response = client.post("/webhooks", input_stream=UnreadableBody(2 * MB),
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 413
    assert response.get_json() == {"status": "body too large"}


def test_undeclared_oversized_body_stops_at_the_limit(client: Any, session: dict[str, str]) -> None:
    # chunked: no Content-Length, so the limit applies while reading
    body = b'{"product_ids": ["' + b"1" * (2 * MB) + b'"]}'
    environ = EnvironBuilder(path="/api/jobs", method="POST", input_stream=io.BytesIO(body),
                             headers={**session, "Content-Type": "application/json"}).get_environ()  # fmt: skip
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True  # what gunicorn sets for a chunked request
    response = client.open(environ)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_too_large"


def test_a_photo_within_the_limit_is_read(client: Any, session: dict[str, str]) -> None:
    # a small non-image: read and refused for what it is, not for its size
    response = client.post("/api/pose-sets", headers=session,
                           data={"name": "x", "photo": (io.BytesIO(b"not an image" * 100), "p.png")})  # fmt: skip
    assert response.status_code in (400, 422)
    assert response.get_json()["error"]["code"] != "request_too_large"
