"""The service's request and response bodies (pydantic), mirroring the library's ``to_json()``."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AuditEntryOut",
    "AuditOut",
    "CreateSubjectIn",
    "DetectIn",
    "DetectOut",
    "EnrollIn",
    "EnrollOut",
    "EraseOut",
    "ErrorOut",
    "FaceOut",
    "HealthOut",
    "KeyOut",
    "SearchIn",
    "SearchOut",
    "SubjectOut",
    "SubjectsOut",
    "VerifyIn",
    "VerifyOut",
    "request_body",
]

Fmr = Annotated[
    float, Field(gt=0.0, lt=1.0, allow_inf_nan=False, description="False match rate per comparison")
]
#: A base64-encoded image (standard alphabet, padding optional); limited by FACEPRINT_MAX_BYTES.
Image64 = Annotated[str, Field(min_length=1, description="base64-encoded image (JPEG, PNG, WebP, BMP, GIF)")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- errors ------------------------------------------------------------------------------------


class ErrorBody(_Out):
    code: str = Field(description="stable machine-readable code, e.g. no_face, consent_required, forbidden")
    message: str


class ErrorOut(_Out):
    error: ErrorBody


# -- requests: the JSON form; the multipart form has the same fields, images as file parts ------


class DetectIn(_In):
    image: Image64


#: Which face of an image to use: its index among the faces /v1/detect lists (0 = the largest).
FaceIndex = Annotated[
    int | None,
    Field(
        ge=0,
        le=10_000,
        description="face index as /v1/detect lists them (0 = largest); default: the main face",
    ),
]


class VerifyIn(_In):
    a: Image64
    b: Image64
    fmr: Fmr = 1e-3
    face_a: FaceIndex = None
    face_b: FaceIndex = None


class SearchIn(_In):
    image: Image64
    purpose: Text
    top_k: Annotated[int, Field(ge=1, le=100)] = 5
    fmr: Fmr | None = Field(default=None, description="set the threshold per comparison instead of by fpir")
    fpir: Annotated[float | None, Field(gt=0.0, lt=1.0, allow_inf_nan=False)] = Field(
        default=None, description="share of strangers who may be given a name; default 0.01"
    )
    all_faces: bool = False


class EnrollIn(_In):
    images: Annotated[list[Image64], Field(min_length=1, max_length=20)]
    largest_face: bool = False
    masked_copies: bool = Field(
        default=False,
        description="also store each photo's masked copies and occluded template, for masked probes (docs/masks.md)",
    )


class CreateSubjectIn(_In):
    subject: Annotated[str, Field(min_length=1, max_length=200)]
    purpose: Text = Field(description="why the face is processed; a search must declare the same purpose")
    evidence: Text | None = None
    expires_at: datetime | None = Field(default=None, description="consent expiry, ISO 8601 with a time zone")


#: Fields that carry images, per request model: (field, several images?).
IMAGE_FIELDS: dict[type[BaseModel], tuple[tuple[str, bool], ...]] = {
    DetectIn: (("image", False),),
    VerifyIn: (("a", False), ("b", False)),
    SearchIn: (("image", False),),
    EnrollIn: (("images", True),),
}


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for ``model``: base64 JSON, or multipart with the images as files."""
    schema = model.model_json_schema()
    schema.pop("title", None)
    multipart = copy.deepcopy(schema)
    for field, several in IMAGE_FIELDS[model]:
        binary = {"type": "string", "format": "binary"}
        multipart["properties"][field] = {"type": "array", "items": binary} if several else binary
    multipart.pop("additionalProperties", None)
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": multipart},
                "application/json": {"schema": schema},
            },
        }
    }


# -- responses ---------------------------------------------------------------------------------

Box = Annotated[list[float], Field(min_length=4, max_length=4, description="[left, top, right, bottom]")]


class FaceOut(_Out):
    box: Box
    score: float
    landmarks: list[list[float]]
    keypoints: list[list[float]] | None = Field(
        default=None,
        description="the detector's own points where it places them (blazeface: left eye, right eye, "
        "nose tip, mouth centre, left ear, right ear, as seen in the image)",
    )
    masked: bool | None = Field(default=None, description="the face appears to wear a mask (docs/masks.md)")
    mask_score: float | None = Field(
        default=None, description="how much it looks masked; 0.5 and above: masked"
    )


class DetectOut(_Out):
    faces: list[FaceOut]


class VerifyOut(_Out):
    match: bool
    distance: float
    similarity: float
    fmr: float = Field(description="false match rate measured at this similarity")
    threshold: float = Field(description="similarity needed at fmr_target")
    fmr_target: float
    model: str
    comparison: str | None = Field(
        default=None,
        description="a masked face compared by the routed rule: the comparison that decided it (bare, masked, "
        "occluded); fmr is then the rule's union bound (docs/masks.md)",
    )


class MatchOut(_Out):
    subject: str
    similarity: float
    fmr: float
    crowding: float | None = Field(
        default=None,
        description="when several subjects passed: the mean similarity of this subject's template to its 20 "
        "nearest other subjects; they are listed by similarity - crowding / 2",
    )
    comparison: str | None = Field(
        default=None,
        description="a masked probe's match: the comparison that decided it (bare, masked or occluded); "
        "fmr is then the routed rule's (docs/masks.md)",
    )


class FaceSearchOut(_Out):
    box: Box | None
    matches: list[MatchOut]
    masked: bool | None = Field(default=None, description="the probe face appears to wear a mask")
    rule: str | None = Field(
        default=None,
        description="set when the masked probes' routed rule decided this face, not the threshold",
    )


class SearchOut(_Out):
    faces: list[FaceSearchOut]
    threshold: float = Field(description="similarity a subject needed for a name")
    rule: str = Field(description="why this threshold, e.g. 'fpir 0.01 over 1200 subjects'")
    fmr: float = Field(description="per-comparison false match rate at the threshold")
    fpir: float | None = Field(description="the bound on strangers named, when the rule is FPIR")
    eligible: int = Field(description="subjects compared against")
    model: str = Field(default="", description="the template model the decision was made in")
    calibration: str = Field(default="", description="where that model's calibration table comes from")


class ConsentOut(_Out):
    purpose: str
    evidence: str | None
    granted_at: str | None
    expires_at: str | None


class SubjectOut(_Out):
    subject: str
    consent: ConsentOut
    templates: int
    created_at: str | None
    last_seen_at: str | None


class SubjectsOut(_Out):
    subjects: list[SubjectOut]
    total: int


class EnrollOut(_Out):
    subject: str
    created: bool
    added: int
    skipped: int


class EraseOut(_Out):
    subject: str
    templates: int
    wal_cleared: bool


class AuditEntryOut(_Out):
    id: int
    at: str | None
    actor: str
    operation: str
    purpose: str | None
    subjects: list[str]
    results: int | None
    detail: str | None


class AuditOut(_Out):
    entries: list[AuditEntryOut]


class KeyOut(_Out):
    name: str
    key_id: str
    scopes: list[str]


class HealthOut(_Out):
    status: str
    version: str
    workers: int


class ReadyOut(_Out):
    status: str
    checks: dict[str, bool]
