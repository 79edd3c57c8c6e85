"""Junk thrown at every /api/* route with a valid session: never a 5xx, and every refusal is a JSON error with a code.

Property-based (hypothesis): bodies of any JSON shape (wrong types, huge and negative numbers, deep nesting, lists
where objects go), raw bytes, query strings and path ids beyond 63 bits. The review of issue 12 found ten such
requests answered 500 (`poses: 5` to /api/bulk, `description: {}` to /api/pose-sets, `limit=-1`, `before=1e20`,
job id 99999999999999999999, a garbage cursor, 10,000-deep JSON …); they are pinned as explicit examples too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.extensions import db
from plugin.models.job import Job, JobState
from plugin.models.output import Output

# (method, path template, JSON keys the route knows, query keys it knows)
ROUTES: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    ("GET", "/api/products", (), ("after", "query")),
    ("GET", "/api/products/{pid}/source-skeleton", (), ()),
    ("PUT", "/api/products/{pid}/source-skeleton", ("skeleton",), ()),
    ("GET", "/api/pose-sets", (), ()),
    ("GET", "/api/pose-sets/{sid}/poses", (), ()),
    ("POST", "/api/pose-sets", ("name", "poses", "description"), ()),
    ("POST", "/api/jobs", ("product_ids", "variant_ids", "pose_set", "poses", "mode", "seed"), ()),
    ("GET", "/api/jobs", (), ("status", "limit", "before")),
    ("GET", "/api/jobs/{id}", (), ()),
    ("GET", "/api/jobs/{id}/source-image", (), ()),
    ("POST", "/api/jobs/{id}/cancel", (), ()),
    ("POST", "/api/jobs/{id}/publish", (), ()),
    ("POST", "/api/outputs/{id}/approve", ("position", "variant_id"), ()),
    ("POST", "/api/outputs/{id}/reject", (), ()),
    ("POST", "/api/outputs/{id}/regenerate", (), ()),
    ("GET", "/api/outputs/{id}/image", (), ()),
    ("POST", "/api/bulk", ("scope", "selected", "collection_id", "pose_set", "poses", "mode"), ()),
    ("GET", "/api/bulk/{id}", (), ()),
    ("POST", "/api/bulk/{id}/cancel", (), ()),
    ("GET", "/api/overview", (), ()),
    ("GET", "/api/settings", (), ()),
    ("PUT", "/api/settings", ("automation", "filters", "default_pose_set", "mode", "daily_limit", "backend",
                              "max_size", "output_format"), ()),
]  # fmt: skip

known = st.sampled_from(["catalog-basics", "review", "auto", "gid://shopify/Product/1", "selection", "png"])
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False) | st.text(max_size=12) | known)  # fmt: skip
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)  # fmt: skip
odd_ids = st.sampled_from(["99999999999999999999", "1e20", "0x10", "%00", "1.5", "-1", "9223372036854775808"])
ids = st.integers(min_value=-5, max_value=2**70).map(str) | odd_ids
deep = st.integers(min_value=10, max_value=20_000).map(lambda n: "[" * n + "]" * n)


def bodies(keys: tuple[str, ...]) -> st.SearchStrategy[bytes | None]:
    objects = st.fixed_dictionaries({}, optional=dict.fromkeys(keys, json_values)) if keys else st.just({})
    return st.one_of(
        st.none(), objects.map(lambda d: json.dumps(d).encode()), json_values.map(lambda v: json.dumps(v).encode()),
        deep.map(str.encode), st.binary(max_size=64),
    )  # fmt: skip


def queries(keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, str]]:
    value = st.text(max_size=20) | ids | st.sampled_from(["-1", "0", "251", "1e20", "queued,nope", "!!!", "==="])
    return st.fixed_dictionaries({}, optional=dict.fromkeys(keys, value)) if keys else st.just({})


@pytest.fixture
def rows(app: Any, shop: Any) -> dict[str, int]:
    """One job with one output in this shop, so small ids also reach the routes' real work."""
    with app.app_context():
        job = Job(shop_id=shop.id, product_id="gid://shopify/Product/1", product_title="Shirt",
                  pose_set_id="catalog-basics", pose_set_version="1", pose_set={"poses": [{"id": "front-relaxed"}]},
                  request_key="j" * 64, source_key=f"{shop.domain}/sources/{'a' * 64}.png",
                  state=JobState.AWAITING_REVIEW)  # fmt: skip
        db.session.add(job)
        db.session.flush()
        key = f"{shop.domain}/jobs/{job.id}/front-relaxed-0.png"
        out = Output(shop_id=shop.id, job_id=job.id, pose_id="front-relaxed", position=0, storage_key=key,
                     passed=True, reasons=[])  # fmt: skip
        db.session.add(out)
        db.session.commit()
        return {"job": job.id, "output": out.id}


def check(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    if response.status_code >= 400:
        error = (response.get_json(silent=True) or {}).get("error")
        assert isinstance(error, dict) and isinstance(error.get("code"), str) and error.get("message"), \
            response.get_data(as_text=True)[:300]


@pytest.mark.parametrize(("method", "template", "body_keys", "query_keys"), ROUTES,
                         ids=[f"{m} {t}" for m, t, _, _ in ROUTES])  # fmt: skip
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(data=st.data())
def test_junk_never_gives_a_5xx(client: Any, shop: Any, id_token: Any, rows: dict[str, int], method: str,
                                template: str, body_keys: tuple[str, ...], query_keys: tuple[str, ...],
                                data: Any) -> None:  # fmt: skip
    path = template.format(
        id=data.draw(ids | st.sampled_from([str(rows["job"]), str(rows["output"])]), label="id"),
        pid=data.draw(ids | st.sampled_from(["gid://shopify/Product/1", "gid://shopify/Product/99999999999999999999"]),
                      label="pid"),
        sid=data.draw(st.text(min_size=1, max_size=20).filter(lambda s: "/" not in s) | st.just("catalog-basics"),
                      label="sid"),
    )  # fmt: skip
    query = data.draw(queries(query_keys), label="query")
    raw = data.draw(bodies(body_keys), label="body") if method != "GET" else None
    headers = {"Authorization": f"Bearer {id_token(shop.domain)}"}
    if raw is not None:
        headers["Content-Type"] = "application/json"
    check(client.open(path, method=method, query_string=query, data=raw, headers=headers))


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("POST", "/api/bulk", {"selected": ["gid://shopify/Product/1"], "poses": 5}),
    ("POST", "/api/bulk", {"selected": ["gid://shopify/Product/1"], "poses": [{}]}),
    ("POST", "/api/bulk", {"selected": ["gid://shopify/Product/1"], "poses": [[1]]}),
    ("POST", "/api/pose-sets", {"name": "x", "poses": ["catalog-basics/front-relaxed"], "description": 5}),
    ("POST", "/api/pose-sets", {"name": "x", "poses": ["catalog-basics/front-relaxed"], "description": {}}),
    ("GET", "/api/jobs?limit=-1", None),
    ("GET", "/api/jobs?before=1e20", None),
    ("GET", "/api/jobs?before=99999999999999999999", None),
    ("GET", "/api/jobs/99999999999999999999", None),
    ("GET", "/api/products?after=not%20a%20cursor!", None),
    ("GET", "/api/products?after=Zm9vYmFy", None),
    ("POST", "/api/jobs", "[" * 10_000 + "]" * 10_000),
])  # fmt: skip
def test_the_reviews_500s_are_4xx_json(client: Any, shop: Any, id_token: Any, method: str, path: str,
                                       payload: Any) -> None:  # fmt: skip
    raw = payload if isinstance(payload, str) else (json.dumps(payload) if payload is not None else None)
    response = client.open(path, method=method, data=raw, headers={
        "Authorization": f"Bearer {id_token(shop.domain)}", "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:300]
    check(response)
