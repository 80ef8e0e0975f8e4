"""The optional parts of faceprint: the packages each extra of ``pyproject.toml`` installs are
imported only by the commands that need them, which fail with :class:`MissingExtra` naming it."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtra

__all__ = ["import_extra", "missing_extra"]


def missing_extra(extra: str, needed_by: str, exc: ImportError) -> MissingExtra:
    """The error for ``needed_by`` (a command or option) when ``exc`` says a package of ``extra`` is missing."""
    return MissingExtra(
        f"{needed_by} needs the {extra} extra: pip install 'faceprint[{extra}]' ({exc.name or exc} is missing)"
    )


def import_extra(module: str, extra: str, needed_by: str) -> ModuleType:
    """``module``, imported; :class:`MissingExtra` naming ``extra`` when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_extra(extra, needed_by, exc) from None
