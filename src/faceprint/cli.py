"""The ``faceprint`` command line: a thin shell over :class:`faceprint.Engine`.

Exit status: 0 success (``verify``: same person), 1 ``verify``: different people, 2 error —
grep's convention. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import __version__
from .config import Settings
from .engine import Engine
from .errors import FaceprintError, InvalidInput, NoFace
from .faces import Face
from .models.registry import DEFAULT_DETECTOR, detector_names

F = TypeVar("F", bound=Callable[..., Any])
EXIT_ERROR = 2

stderr = Console(stderr=True, highlight=False)


class _Group(click.Group):
    """Turns faceprint's typed errors into ``faceprint: error: ...`` and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FaceprintError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            click.echo("faceprint: interrupted", err=True)
            sys.exit(130)


def _fail(message: str) -> None:
    _error_line(message)
    sys.exit(EXIT_ERROR)


def _error_line(message: str) -> None:
    click.echo(f"faceprint: error: {message}", err=True)


def _note(message: str) -> None:
    click.echo(f"faceprint: {message}", err=True)


def engine_options(func: F) -> F:
    """``--detector``, ``--upsample`` and ``--mirror`` on every command that runs the models."""
    func = click.option(
        "--mirror/--no-mirror",
        default=None,
        help="Average each embedding with its mirror image's (more accurate, 2x slower). [env FACEPRINT_MIRROR]",
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


def _settings(detector: str | None, upsample: int | None, mirror: bool | None) -> Settings:
    ctx = click.get_current_context(silent=True)
    store = ctx.find_root().params.get("store") if ctx else None
    return Settings.from_env(detector=detector, upsample=upsample, mirror=mirror, store=store)


@contextmanager
def _progress(label: str, total: int | None) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """A progress bar on stderr on a terminal (silent otherwise): yields ``advance`` and ``set_total``.

    ``total`` may be unknown (``None``) until ``set_total`` is called; a single item shows no bar.
    """
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    enabled = total != 1 and sys.stderr.isatty()
    with Progress(*columns, console=stderr, disable=not enabled, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield (lambda n: bar.advance(task, n)), (lambda n: bar.update(task, total=n))


def _emit(record: dict[str, Any]) -> None:
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


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON line per image.")
@click.option(
    "--draw",
    "draw_to",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the image with boxes and landmarks: a file for one image, a directory for several.",
)
@engine_options
def detect(
    images: Sequence[Path],
    as_json: bool,
    draw_to: Path | None,
    detector: str | None,
    upsample: int | None,
    mirror: bool | None,
) -> None:
    """Find faces: boxes, detector scores and 5 landmarks (largest face first)."""
    from .draw import draw_faces, save_image

    engine = Engine(_settings(detector, upsample, mirror))
    if draw_to is not None and len(images) > 1:
        draw_to.mkdir(parents=True, exist_ok=True)

    def work(image: Path) -> list[Face]:
        photo = engine.photo(image)
        faces = engine.detect(photo)
        if faces and draw_to is not None:
            out = draw_to / f"{image.stem}.faces.png" if len(images) > 1 else draw_to
            save_image(draw_faces(photo.full(), faces), out)
        return faces

    def show(image: Path, faces: list[Face]) -> None:
        if as_json:
            _emit({"image": str(image), "faces": [f.to_json() for f in faces]})
            return
        click.echo(f"{image}: {len(faces)} face{'s' if len(faces) != 1 else ''}")
        for i, f in enumerate(faces):
            box = ", ".join(f"{v:.0f}" for v in f.box.as_list())
            click.echo(f"  [{i}] box ({box})  score {f.score:.3f}" + ("  masked" if f.masked else ""))

    _each_image(images, "detecting", as_json, work, show)


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON line per image, with the templates.")
@click.option("--largest", is_flag=True, help="Embed only the largest face of each image.")
@engine_options
def embed(
    images: Sequence[Path],
    as_json: bool,
    largest: bool,
    detector: str | None,
    upsample: int | None,
    mirror: bool | None,
) -> None:
    """Compute face templates (128-d unit vectors) for every face, to export to other tools."""
    engine = Engine(_settings(detector, upsample, mirror))

    def show(image: Path, faces: list[Face]) -> None:
        if as_json:
            _emit({"image": str(image), "faces": [f.to_json(with_template=True) for f in faces]})
        else:
            model = faces[0].template.model if faces[0].template else ""
            plural = "s" if len(faces) != 1 else ""
            click.echo(f"{image}: {len(faces)} template{plural} ({model}); use --json to export them")

    _each_image(images, "embedding", as_json, lambda image: engine.embed(image, largest_only=largest), show)


def _each_image(
    images: Sequence[Path],
    label: str,
    as_json: bool,
    work: Callable[[Path], list[Face]],
    show: Callable[[Path, list[Face]], None],
) -> None:
    """Run ``work`` on each image, ``show`` its faces; report failures per image and go on.

    An image without a face is a failure. Exits with status 2 when any image failed.
    """
    failed = 0
    with _progress(label, len(images)) as (advance, _):
        for image in images:
            try:
                faces = work(image)
                if not faces:
                    raise NoFace(f"{image}: no face found")
            except FaceprintError as exc:
                failed += 1
                _report_error(image, exc, as_json)
                continue
            finally:
                advance(1)
            show(image, faces)
    if failed:
        sys.exit(EXIT_ERROR)


def _report_error(image: Path, exc: FaceprintError, as_json: bool) -> None:
    message = str(exc)
    if as_json:
        _emit({"image": str(image), "error": {"code": exc.code, "message": message}})
    else:
        _error_line(message)


def _pick(engine: Engine, image: Path, index: int | None) -> Face:
    """The face to verify in ``image``: the main one, or number ``index``; only that one is embedded."""
    from .choice import main_face

    photo = engine.photo(image)
    faces = engine.detect(photo)
    if not faces:
        raise NoFace(f"{image}: no face found")
    if index is None:
        index = main_face([f.box for f in faces], photo.width, photo.height)
        if len(faces) > 1:
            _note(
                f"{image}: {len(faces)} faces found, using face {index} (the largest, or the most central of "
                "faces of about its size; --face-a/--face-b choose another)"
            )
    if not 0 <= index < len(faces):
        raise InvalidInput(f"{image}: has {len(faces)} face(s); face index {index} does not exist")
    return engine.embed(photo, boxes=[faces[index].box])[0]


@cli.command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option(
    "--fmr",
    type=float,
    default=1e-3,
    show_default=True,
    help="False match rate the decision may make (sets the threshold).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.option("--face-a", type=int, default=None, help="Face index in A (0 = largest; see 'detect').")
@click.option("--face-b", type=int, default=None, help="Face index in B (0 = largest).")
@engine_options
def verify(
    a: Path,
    b: Path,
    fmr: float,
    as_json: bool,
    face_a: int | None,
    face_b: int | None,
    detector: str | None,
    upsample: int | None,
    mirror: bool | None,
) -> None:
    """Are A and B the same person? Exit 0 yes, 1 no, 2 error."""
    engine = Engine(_settings(detector, upsample, mirror))
    engine.calibration.threshold(fmr)  # reject a bad --fmr before loading images
    fa, fb = _pick(engine, a, face_a), _pick(engine, b, face_b)
    match = engine.verify(fa, fb, fmr=fmr)
    if as_json:
        _emit(
            {
                **match.to_json(),
                "a": {"image": str(a), "box": fa.box.as_list()},
                "b": {"image": str(b), "box": fb.box.as_list()},
            }
        )
    else:
        verdict = "same person" if match.is_match else "different people"
        click.echo(
            f"{verdict}: similarity {match.similarity:.4f} (threshold {match.threshold:.4f} at FMR "
            f"{fmr:g}), distance {match.distance:.4f}, FMR at this score {match.fmr:.2g}"
        )
    sys.exit(0 if match.is_match else 1)


@cli.group()
def evaluate() -> None:
    """Run standard benchmark protocols."""


@evaluate.command("lfw")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--pairs",
    type=click.Path(path_type=Path),
    default=None,
    help="Pairs file (default: DIRECTORY/pairs.txt).",
)
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="Write ROC and DET curves here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Processes (default: all cores).")
@click.option(
    "--masked",
    type=click.Choice(["probe", "both"]),
    default=None,
    help="Draw synthetic masks on the second image of each pair (probe) or on both (docs/masks.md).",
)
@click.option(
    "--cache", type=click.Path(path_type=Path), default=None, help="With --masked: keep the templates here."
)
@engine_options
def evaluate_lfw_command(
    directory: Path,
    pairs: Path | None,
    plot: Path | None,
    as_json: bool,
    workers: int | None,
    masked: str | None,
    cache: Path | None,
    detector: str | None,
    upsample: int | None,
    mirror: bool | None,
) -> None:
    """LFW's 10-fold verification protocol: accuracy ± std, EER, TAR at FAR 1e-2 and 1e-3."""
    from .evaluate import evaluate_lfw, plot_lfw

    settings = _settings(detector, upsample, mirror)
    if masked is not None:
        from .cli_masks import masked_lfw

        masked_lfw(directory, pairs, masked, settings, workers, cache, as_json)
        return
    with _progress("embedding LFW", None) as (advance, set_total):
        report = evaluate_lfw(
            directory, pairs=pairs, settings=settings, workers=workers, progress=advance, on_total=set_total
        )
    if plot is not None:
        plot_lfw(report, plot)
    if as_json:
        _emit(report.to_json())
        return
    click.echo(
        f"LFW 10-fold ({report.n_pairs} pairs, {report.n_images} images, model {report.model}, "
        f"detector {report.detector})"
    )
    for i, (acc, thr) in enumerate(zip(report.fold_accuracies, report.fold_thresholds, strict=True), 1):
        click.echo(f"  fold {i:2d}: accuracy {acc:.4f}  (threshold {thr:.4f})")
    click.echo(
        f"accuracy {report.accuracy:.4f} ± {report.accuracy_std:.4f} (std; SE {report.accuracy_se:.4f})"
    )
    click.echo(
        f"EER {report.eer:.4f}; " + ", ".join(f"TAR@FAR={k} {v:.4f}" for k, v in report.tar_at_far.items())
    )
    click.echo(
        f"faces found by {report.detector}: {report.n_images - report.n_cnn_fallback - report.n_box_fallback}, "
        f"by the CNN fallback: {report.n_cnn_fallback}, central box used: {report.n_box_fallback}; "
        f"{report.seconds:.0f} s"
    )


@evaluate.command("identify")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--fpir", type=float, default=0.01, show_default=True, help="The default rule's bound on strangers named."
)
@click.option("--fmr", type=float, default=1e-3, show_default=True, help="A per-comparison point to report.")
@click.option(
    "--held-out", type=click.IntRange(0), default=300, show_default=True, help="People never enrolled."
)
@click.option(
    "--per-person", type=click.IntRange(1), default=2, show_default=True, help="Probes per person at most."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Which people are held out.")
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="Write the DET curve (PNG) here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Processes (default: all cores).")
@engine_options
def evaluate_identify_command(
    directory: Path,
    fpir: float,
    fmr: float,
    held_out: int,
    per_person: int,
    seed: int,
    plot: Path | None,
    as_json: bool,
    workers: int | None,
    detector: str | None,
    upsample: int | None,
    mirror: bool | None,
) -> None:
    """1:N open-set identification on a folder of people (LFW layout), every photo through the pipeline.

    Gallery: each person's first photo, single-photo people as distractors; probes: further photos,
    and people held out (never enrolled). Prints rank-1, FNIR at FPIR 0.1/0.01/0.001 and the default
    operating point (FPIR, TPIR); the face_recognition library itself: bench/identify_lfw.py.
    """
    from .identification import evaluate_identification, plot_det

    settings = _settings(detector, upsample, mirror)
    with _progress("detecting and embedding", None) as (advance, set_total):
        report = evaluate_identification(
            directory,
            settings=settings,
            fmr=fmr,
            fpir=fpir,
            held_out=held_out,
            per_person=per_person,
            seed=seed,
            workers=workers,
            progress=advance,
            on_total=set_total,
        )
    if plot is not None:
        plot_det([report], plot, title=f"1:N on {directory.name}, {report.gallery} subjects")
    if as_json:
        _emit(report.to_json())
        return
    click.echo(
        f"1:N on {directory}: {report.gallery} subjects enrolled, {report.mated} mated probes, "
        f"{report.non_mated} stranger probes ({report.pipeline}, model {report.model})"
    )
    click.echo(
        f"{report.refused} gallery photos have rival faces (enrolment refuses them without --largest-face; "
        f"counted here as enrolled with it); {report.no_face} photos without a face"
    )
    click.echo(f"closed-set rank-1 {report.rank1:.4f}")
    click.echo("FNIR at FPIR: " + ", ".join(f"{k}: {v:.4f}" for k, v in report.fnir_at_fpir.items()))
    for point in report.points:
        click.echo(
            f"  {point.name:46s} threshold {point.threshold:.4f}  FPIR {point.fpir:.4f}  "
            f"FNIR {point.fnir:.4f}  TPIR {point.tpir:.4f}"
        )


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the annotated demo images into this directory.",
)
def demo(out: Path | None) -> None:
    """Detect, verify and search faces on sample photos that ship with installed packages.

    The search runs in the gallery store (--store): the demo subject is enrolled, searched and
    erased again.
    """
    from .demo import run_demo
    from .store import open_store

    settings = _settings(None, None, None)
    engine = Engine(settings)
    with open_store(engine=engine, actor="cli:demo") as store:
        run_demo(Console(highlight=False), out_dir=out, engine=engine, store=store)


# register the gallery, library, privacy, serve and keys commands
from . import cli_gallery, cli_library, cli_models, cli_privacy, cli_service  # noqa: E402,F401


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="faceprint")
