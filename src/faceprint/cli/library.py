"""The photo-library commands of the ``faceprint`` CLI: ``index DIR`` and ``people ...``."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..library import DEFAULT_PURPOSE
from ._shared import cli, emit, engine_options, error_line, open_photo_library, stderr

EXIT_FAILURES = 1


class _Rate(ProgressColumn):
    """Photos per second over the run so far."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- photos/s" if speed is None else f"{speed:.1f} photos/s")


@contextmanager
def _photo_progress() -> Iterator[Progress]:
    columns = (
        TextColumn("indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, disable=not sys.stderr.isatty(), transient=True) as bar:
        yield bar


_purpose_option = click.option(
    "--purpose",
    default=DEFAULT_PURPOSE,
    show_default=True,
    help="Why these faces are processed; written to the audit log with the operation.",
)


@cli.command("index")
@click.argument("folder", type=click.Path(path_type=Path))
@_purpose_option
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=None,
    help="Analysis processes (default: one per core; 0 = in this process). With --ray: Ray actors "
    "(default: one per CPU of the cluster).",
)
@click.option(
    "--ray",
    "ray_address",
    metavar="HOST:PORT",
    default=None,
    help="Analyse the photos on the Ray cluster whose head is at HOST:PORT (the faceprint[ray] extra; "
    "'bash scripts/ray.sh start' starts one on loopback). This process still writes the store.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as one JSON line.")
@engine_options
def index_command(
    folder: Path,
    purpose: str,
    workers: int | None,
    ray_address: str | None,
    as_json: bool,
    detector: str | None,
    upsample: int | None,
    mirror: bool | None,
) -> None:
    """Index the photos under FOLDER (recursively): every face, its quality and protected template.

    Resumable: photos already indexed are skipped by content hash (moved and renamed files are
    recognised without decoding them); unreadable files are listed at the end (exit 1).
    """
    with open_photo_library(detector, upsample, mirror, purpose) as library, _photo_progress() as bar:
        task = bar.add_task("indexing", total=None)
        report = library.index(
            folder,
            workers=workers,
            ray=ray_address,
            progress=lambda n: bar.advance(task, n),
            set_total=lambda n: bar.update(task, total=n),
        )
    if as_json:
        emit(report.to_json())
    else:
        for failure in report.failures:
            error_line(failure.message)
        click.echo(
            f"{report.files} file(s): {report.indexed} photo(s) indexed with {report.faces} face(s) "
            f"({report.photos_per_second:.1f} photos/s), {report.unchanged} unchanged, {report.known} known "
            f"(moved, renamed or duplicate), {report.removed} path(s) gone, {len(report.failures)} unreadable"
        )
        if report.nodes:
            shares = ", ".join(f"{n.address} {n.tasks}" for n in report.nodes)
            click.echo(f"analysed on {len(report.nodes)} Ray node(s): {shares}")
    sys.exit(EXIT_FAILURES if report.failures else 0)


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per person.")
@click.pass_context
def people(ctx: click.Context, as_json: bool) -> None:
    """The people of the photo library: list them (no subcommand), cluster, show, correct, erase."""
    if ctx.invoked_subcommand is not None:
        return
    with open_photo_library() as library:
        everyone = library.people()
        stats = library.stats()
    for person in everyone:
        if as_json:
            emit(person.to_json())
        else:
            pin = " (confirmed)" if person.pinned else ""
            click.echo(f"{person.label}: {person.faces} face(s) in {person.photos} photo(s){pin}")
    if not as_json:
        click.echo(
            f"{len(everyone)} people; {stats['faces']} faces in {stats['photos']} photos, "
            f"{stats['unassigned']} in no person"
        )


@people.command("cluster")
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as one JSON line.")
@_purpose_option
def people_cluster(as_json: bool, purpose: str) -> None:
    """Group new faces into people (incremental; corrections are kept)."""
    with open_photo_library(purpose=purpose) as library:
        report = library.cluster()
    if as_json:
        emit(report.to_json())
        return
    click.echo(
        f"{report.new_faces} new face(s) of {report.faces}: {report.assigned} assigned, "
        f"{report.new_people} new people, {report.merged} merged; {report.people} people, "
        f"{report.unassigned} face(s) in no person ({report.seconds:.2f} s)"
    )


@people.command("show")
@click.argument("person")
@click.option(
    "--contact-sheet",
    "sheet",
    type=click.Path(path_type=Path),
    default=None,
    help="Write a grid of the person's face crops (cut from the photos) to this JPEG/PNG file.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per face.")
def people_show(person: str, sheet: Path | None, as_json: bool) -> None:
    """List PERSON's faces (id, quality, photo), best first; PERSON is an id (#7 or 7) or a name."""
    with open_photo_library() as library:
        who = library.person(person)
        faces = library.faces(who.id)
        tiles = library.contact_sheet(who.id, sheet) if sheet is not None else 0
    for face in faces:
        if as_json:
            emit(face.to_json())
        else:
            why = f" ({', '.join(face.reasons)})" if face.reasons else ""
            where = face.paths[0] if face.paths else "?"
            click.echo(f"face {face.id}: quality {face.quality:.2f}{why}  {where}")
    if not as_json:
        click.echo(f"{who.label}: {who.faces} face(s) in {who.photos} photo(s)")
        if sheet is not None:
            click.echo(f"contact sheet of {tiles} face(s) written to {sheet}")


@people.command("name")
@click.argument("person")
@click.argument("name")
def people_name(person: str, name: str) -> None:
    """Name PERSON (id or current name) NAME; named people are kept apart by later runs."""
    with open_photo_library() as library:
        who = library.name(person, name)
    click.echo(f"#{who.id} is now {who.name!r}")


@people.command("merge")
@click.argument("person")
@click.argument("other")
def people_merge(person: str, other: str) -> None:
    """Merge OTHER into PERSON (they are one person)."""
    with open_photo_library() as library:
        who = library.merge(person, other)
    click.echo(f"{who.label}: {who.faces} face(s) after the merge")


@people.command("split")
@click.argument("person")
@click.argument("faces", nargs=-1, required=True, type=int)
def people_split(person: str, faces: Sequence[int]) -> None:
    """Move FACES (ids from 'people show') out of PERSON into a new person."""
    with open_photo_library() as library:
        who = library.split(person, faces)
    click.echo(f"new person #{who.id} with {who.faces} face(s)")


@people.command("not")
@click.argument("face", type=int)
@click.argument("person")
def people_not(face: int, person: str) -> None:
    """FACE is not PERSON: it leaves PERSON and later runs never put it back."""
    with open_photo_library() as library:
        library.not_(face, person)
    click.echo(f"face {face} is not {person}")


@people.command("erase")
@click.argument("person")
def people_erase(person: str) -> None:
    """Erase PERSON's faces and templates (no bytes left behind). Irreversible."""
    with open_photo_library() as library:
        count = library.erase(person)
    click.echo(f"erased {person} with {count} face(s)")
