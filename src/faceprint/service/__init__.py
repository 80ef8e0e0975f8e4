"""The HTTP service: a FastAPI app over the library (``faceprint serve``). See README, "Service"."""

from .app import Service, create_app

__all__ = ["Service", "create_app"]
