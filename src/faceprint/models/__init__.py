"""Inference backends behind a narrow protocol of numpy arrays and plain tuples.

:mod:`faceprint.models.registry` is the one place that picks a backend and locates model files.
"""

from .base import Backends, Detection, Detector, Embedder, Landmarker

__all__ = ["Backends", "Detection", "Detector", "Embedder", "Landmarker"]
