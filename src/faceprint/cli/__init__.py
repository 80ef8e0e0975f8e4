"""The ``faceprint`` command line: a thin shell over :class:`faceprint.Engine`, the gallery store and
the photo library; one module per command group, what they share in :mod:`._shared`.

Exit status: 0 success (``verify``: same person), 1 ``verify``: different people, 2 error —
grep's convention. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

# each module registers its commands on the root group
from . import evaluate, gallery, images, library, migrate_model, models, privacy, service  # noqa: F401
from ._shared import cli

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="faceprint")
