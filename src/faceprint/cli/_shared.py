"""What every command of the ``faceprint`` CLI shares: the root group, typed errors turned into one
line on stderr and exit status 2, the engine options, settings, progress bars, JSON lines, and
opening the gallery or the photo library as the user running the command.

Exit status: 0 success (``verify``: same person), 1 ``verify``: different people, 2 error —
grep's convention. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .. import __version__
from ..config import Settings
from ..errors import FaceprintError
from ..models.registry import DEFAULT_DETECTOR, detector_names

if TYPE_CHECKING:
    from ..gallery import Gallery
    from ..library import Library

F = TypeVar("F", bound=Callable[..., Any])
EXIT_ERROR = 2

stderr = Console(stderr=True, highlight=False)


class _Group(click.Group):
    """Turns faceprint's typed errors into ``faceprint: error: ...`` and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FaceprintError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            click.echo("faceprint: interrupted", err=True)
            sys.exit(130)


def fail(message: str) -> None:
    error_line(message)
    sys.exit(EXIT_ERROR)


def error_line(message: str) -> None:
    click.echo(f"faceprint: error: {message}", err=True)


def note(message: str) -> None:
    click.echo(f"faceprint: {message}", err=True)


def engine_options(func: F) -> F:
    """``--detector``, ``--upsample`` and ``--mirror`` on every command that runs the models."""
    func = click.option(
        "--mirror/--no-mirror",
        default=None,
        help="Average each embedding with its mirror image's (2x slower; default: the recogniser's own, "
        "off for SFace, on for dlib's ResNet). [env FACEPRINT_MIRROR]",
    )(func)
    func = click.option(
        "--upsample",
        type=click.IntRange(0, 4),
        default=None,
        help="Double the working image N times before detection (finds faces half as small per step; "
        "about 4x slower per step). [env FACEPRINT_UPSAMPLE, default: the detector's, 0 for blazeface, "
        "1 for cnn and hog]",
    )(func)
    func = click.option(
        "--detector",
        type=click.Choice(detector_names()),
        default=None,
        help="Face detector: blazeface (fast on phone photos), cnn (dlib's MMOD CNN, boxes equal to "
        "dlib's) or hog (needs the dlib extra); see 'faceprint models'. "
        f"[env FACEPRINT_DETECTOR, default {DEFAULT_DETECTOR}]",
    )(func)
    return func


def cli_settings(detector: str | None, upsample: int | None, mirror: bool | None) -> Settings:
    ctx = click.get_current_context(silent=True)
    store = ctx.find_root().params.get("store") if ctx else None
    return Settings.from_env(detector=detector, upsample=upsample, mirror=mirror, store=store)


@contextmanager
def progress(label: str, total: int | None) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """A progress bar on stderr on a terminal (silent otherwise): yields ``advance`` and ``set_total``.

    ``total`` may be unknown (``None``) until ``set_total`` is called; a single item shows no bar.
    """
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    enabled = total != 1 and sys.stderr.isatty()
    with Progress(*columns, console=stderr, disable=not enabled, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield (lambda n: bar.advance(task, n)), (lambda n: bar.update(task, total=n))


def emit(record: dict[str, Any]) -> None:
    click.echo(json.dumps(record, separators=(",", ":")))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="faceprint")
@click.option(
    "--store",
    default=None,
    metavar="PATH|URL",
    help="The gallery: a SQLite file, or a PostgreSQL URL (postgresql://user@host:5432/db) shared by "
    "several processes. [env FACEPRINT_STORE, default ~/.local/share/faceprint/faceprint.db]",
)
def cli(store: str | None) -> None:
    """faceprint: self-hosted face recognition — detect, embed, verify with calibrated FMR."""


def report_error(image: Path, exc: FaceprintError, as_json: bool) -> None:
    message = str(exc)
    if as_json:
        emit({"image": str(image), "error": {"code": exc.code, "message": message}})
    else:
        error_line(message)


def open_gallery(
    detector: str | None = None, upsample: int | None = None, mirror: bool | None = None
) -> Gallery:
    """The gallery store (``--store``), audited as ``cli:<user>``."""
    from ..gallery import open_store
    from ..store.gallery import os_user

    return open_store(settings=cli_settings(detector, upsample, mirror), actor=f"cli:{os_user()}")


def open_photo_library(
    detector: str | None = None,
    upsample: int | None = None,
    mirror: bool | None = None,
    purpose: str | None = None,
) -> Library:
    """The photo library in the gallery store (``--store``), audited as ``cli:<user>``."""
    from ..library import DEFAULT_PURPOSE, open_library
    from ..store.gallery import os_user

    return open_library(
        settings=cli_settings(detector, upsample, mirror),
        purpose=DEFAULT_PURPOSE if purpose is None else purpose,
        actor=f"cli:{os_user()}",
    )
