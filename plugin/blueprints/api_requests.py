"""Every /api/* request body and query as a declared pydantic model: types, ranges, enums, list lengths.

A route calls `parse(Model, data)` and gets a model instance or an `InvalidRequest` (400, `{"error": {"code",
"message", "fields"}}`), never a half-checked dict. The services below keep the checks that need the shop (a pose set
exists, a product is the shop's, today's limit). Error codes stay those the API documented before the models: each
model names its default code, and `field_codes` a code per field where the API had a specific one.

JSON itself is read by `read_json`: an object (or, where a route allows it, no body), nested at most MAX_JSON_DEPTH
deep. Python's parser raises RecursionError (not ValueError) on ~1,000 levels, which reached the merchant as a 500.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator

from plugin.models.job import JobState
from plugin.services.errors import InvalidRequest

MAX_JSON_DEPTH = 16  # a pose document (set → poses → pose → skeleton → landmarks → point) is 6 deep
# Our row ids are PostgreSQL `integer`: a larger id reached the database and failed there (500). Shopify's own ids
# (product numbers in GIDs) are 63-bit.
MAX_ID = 2**31 - 1
MAX_SHOPIFY_ID = 2**63 - 1
JOB_STATES = tuple(s.value for s in JobState)

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
NumericId = Annotated[StrictInt, Field(ge=1, le=MAX_SHOPIFY_ID)]
ShortText = Annotated[StrictStr, Field(max_length=255)]
GidOrNumber = StrictStr | NumericId
PoseIds = Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=120)]], Field(max_length=50)]


class RequestModel(BaseModel):
    """Base of the request models: unknown keys are ignored (older clients send extra ones), values are strict."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    error_code: ClassVar[str] = "invalid_request"
    field_codes: ClassVar[dict[str, str]] = {}


# --- bodies -------------------------------------------------------------------------------------------------------
class CreateJobs(RequestModel):
    """POST /api/jobs. At most MAX_PRODUCTS (50) products are checked by the service (its own error code)."""

    product_ids: Annotated[list[GidOrNumber], Field(min_length=1, max_length=250)]
    variant_ids: Annotated[list[GidOrNumber], Field(max_length=250)] | None = None
    pose_set: Annotated[StrictStr, Field(max_length=120)] | None = None
    poses: PoseIds | None = None
    mode: Literal["review", "auto"] | None = None
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] = 0
    field_codes: ClassVar[dict[str, str]] = {"mode": "invalid_mode"}


class CreateBulk(RequestModel):
    """POST /api/bulk: a selection of products, a collection, or the whole catalog."""

    scope: Literal["selection", "collection", "catalog"] | None = None
    selected: Annotated[list[Annotated[StrictStr, Field(max_length=64)]], Field(max_length=250)] | None = None
    collection_id: Annotated[StrictStr, Field(max_length=64)] | None = None
    pose_set: Annotated[StrictStr, Field(max_length=120)] | None = None
    poses: PoseIds | None = None
    mode: Literal["review", "auto"] | None = None
    error_code: ClassVar[str] = "invalid_bulk"
    field_codes: ClassVar[dict[str, str]] = {"mode": "invalid_mode"}


FilterValues = Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=255)]], Field(max_length=100)]


class Filters(RequestModel):
    product_types: FilterValues | None = None
    tags: FilterValues | None = None
    collections: FilterValues | None = None


class UpdateSettings(RequestModel):
    """PUT /api/settings: a partial update (only the keys sent change)."""

    automation: Literal["off", "new_products", "new_and_changed"] | None = None  # plugin.models.Automation
    filters: Filters | None = None
    default_pose_set: Annotated[StrictStr, Field(min_length=1, max_length=120)] | None = None
    mode: Literal["review", "auto"] | None = None
    daily_limit: Annotated[StrictInt, Field(ge=0, le=100_000)] | None = None
    backend: Literal["warp", "diffusion"] | None = None
    max_size: Annotated[StrictInt, Field(ge=128, le=4096)] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    error_code: ClassVar[str] = "invalid_settings"


class CreatePoseSet(RequestModel):
    """POST /api/pose-sets (JSON): library references "set/pose" or pose documents (checked by the pose library)."""

    name: Annotated[StrictStr, Field(min_length=1, max_length=80)]
    poses: Annotated[list[Annotated[StrictStr, Field(max_length=240)] | dict[str, Any]],
                     Field(min_length=1, max_length=50)]  # fmt: skip
    description: Annotated[StrictStr, Field(max_length=500)] = ""
    error_code: ClassVar[str] = "invalid_pose_set"

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value


class PhotoPoseSet(RequestModel):
    """POST /api/pose-sets (multipart): the name field next to the photo."""

    name: Annotated[StrictStr, Field(max_length=200)] = ""
    error_code: ClassVar[str] = "invalid_pose_set"


class SourceSkeleton(RequestModel):
    """PUT /api/products/<id>/source-skeleton: a skeleton document (checked by gpu_worker's Skeleton) or null."""

    skeleton: dict[str, Any] | None = None
    error_code: ClassVar[str] = "invalid_skeleton"


class ApproveOptions(RequestModel):
    """POST /api/outputs/<id>/approve (optional body): carousel position (1 = first) and variant."""

    position: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None
    variant_id: GidOrNumber | None = None
    field_codes: ClassVar[dict[str, str]] = {"position": "invalid_position", "variant_id": "invalid_variant"}


# --- queries ------------------------------------------------------------------------------------------------------
class ListJobsQuery(RequestModel):
    """GET /api/jobs?status=a,b&limit=&before=: newest first, `before` a job id (the page's cursor)."""

    status: Annotated[str, Field(max_length=200)] | None = None
    limit: Annotated[int, Field(ge=1, le=250)] = 100
    before: Id | None = None
    error_code: ClassVar[str] = "invalid_query"

    @field_validator("status")
    @classmethod
    def _known_states(cls, value: str | None) -> str | None:
        if value and any(s not in JOB_STATES for s in value.split(",")):
            raise ValueError(f"status must be job states separated by commas: {', '.join(JOB_STATES)}")
        return value or None


class ProductsQuery(RequestModel):
    """GET /api/products?after=<cursor>&query=<search>."""

    # Shopify's cursors are base64 (url-safe or not); anything else is refused here instead of by the Admin API
    after: Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9+/=_-]+$")] | None = None
    query: Annotated[str, Field(max_length=255)] | None = None
    error_code: ClassVar[str] = "invalid_query"


# --- parsing ------------------------------------------------------------------------------------------------------
M = TypeVar("M", bound=RequestModel)


def parse(model: type[M], data: Any) -> M:
    """`data` as `model`, or InvalidRequest(400) naming every field that is wrong and how."""
    if not isinstance(data, dict):
        raise InvalidRequest("send a JSON object body with Content-Type: application/json", code=model.error_code)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = [{"field": _where(e["loc"]), "message": _say(e)} for e in exc.errors(include_url=False)]
        first_field = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else ""
        code = model.field_codes.get(first_field, model.error_code)
        message = "; ".join(f"{f['field']}: {f['message']}" if f["field"] else f["message"] for f in fields[:5])
        raise InvalidRequest(message, code=code, fields=fields) from None


def parse_query(model: type[M]) -> M:
    """The query string as `model` (repeated keys: the first value)."""
    return parse(model, {key: request.args.get(key) for key in request.args})


def read_json(*, optional: bool = False) -> dict[str, Any] | None:
    """The request's JSON object; None when `optional` and there is no body. Refuses what is not an object, what
    does not parse and what is nested deeper than MAX_JSON_DEPTH."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return None
        raise InvalidRequest("send a JSON object body with Content-Type: application/json")
    if _depth_over(raw, MAX_JSON_DEPTH):
        raise InvalidRequest(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep", code="invalid_json")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequest("the body is not valid JSON; send a JSON object", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("send a JSON object body (not a list, string or number)", code="invalid_json")
    return data


_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


def _depth_over(raw: bytes, limit: int) -> bool:
    """Whether the brackets of `raw` nest deeper than `limit` (outside strings), without parsing it: the scan is
    linear and needs no recursion, so it is safe on any body the size limit lets in."""
    depth, in_string, escaped_at = 0, False, -1
    for match in _STRUCTURE.finditer(raw):
        ch, at = match.group(), match.start()
        if in_string:
            if at == escaped_at:  # this byte is escaped by the backslash before it
                continue
            if ch == b"\\":
                escaped_at = at + 1
            elif ch == b'"':
                in_string = False
            continue
        if ch == b'"':
            in_string = True
        elif ch in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif ch in (b"]", b"}"):
            depth -= 1
    return False


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _say(error: Any) -> str:
    """pydantic's message, reworded where the API promised wording (enums: "must be one of a, b, c")."""
    if error["type"] == "literal_error":
        choices = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        return f"must be one of {', '.join(choices)}"
    if error["type"] == "missing":
        return "is required"
    return str(error["msg"])

