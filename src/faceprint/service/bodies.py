"""Request bodies of the service: the same fields as base64 JSON or as multipart with file parts."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from ..errors import InvalidImage
from . import schemas as s
from .guard import Refusal

__all__ = ["b64", "images_and_params"]

M = TypeVar("M", bound=BaseModel)


async def images_and_params(request: Request, model: type[M]) -> tuple[M, dict[str, list[bytes]]]:
    """The request's fields validated by ``model`` and its images as bytes, from either encoding."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields = s.IMAGE_FIELDS[model]
    if kind == "application/json":
        try:
            parsed = model.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_input=False)) from None
        images = {}
        for name, several in fields:
            value = getattr(parsed, name)
            images[name] = [b64(v, name) for v in (value if several else [value])]
        return parsed, images
    if kind == "multipart/form-data":
        form = await request.form(max_files=21, max_fields=20)
        try:
            values: dict[str, Any] = {}
            images = {}
            for name, several in fields:
                parts = form.getlist(name)
                if not parts or not all(isinstance(p, UploadFile) for p in parts):
                    raise Refusal(422, f"{name}: an image file part is required")
                if not several and len(parts) > 1:
                    raise Refusal(422, f"{name}: one image expected, got {len(parts)}")
                images[name] = [await p.read() for p in parts if isinstance(p, UploadFile)]
                values[name] = ["-"] * len(parts) if several else "-"  # placeholders for validation
            for key, value in form.multi_items():
                if key in values:
                    continue
                if not isinstance(value, str):
                    raise Refusal(422, f"{key}: a text field was expected")
                values[key] = value
            try:
                parsed = model.model_validate(values)
            except ValidationError as exc:
                raise RequestValidationError(exc.errors(include_input=False)) from None
            return parsed, images
        finally:
            await form.close()
    raise Refusal(415, "send the image as multipart/form-data or as base64 in application/json")


def b64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImage(f"{field}: not valid base64") from None
