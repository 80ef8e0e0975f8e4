"""The face commands of the ``faceprint`` CLI: detect, embed, verify, demo."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import click
from rich.console import Console

from ..engine import Engine
from ..errors import FaceprintError, NoFace
from ..faces import Face
from ._shared import EXIT_ERROR, cli, cli_settings, emit, engine_options, note, progress, report_error


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
    from ..draw import draw_faces, save_image

    engine = Engine(cli_settings(detector, upsample, mirror))
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
            emit({"image": str(image), "faces": [f.to_json() for f in faces]})
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
    engine = Engine(cli_settings(detector, upsample, mirror))

    def show(image: Path, faces: list[Face]) -> None:
        if as_json:
            emit({"image": str(image), "faces": [f.to_json(with_template=True) for f in faces]})
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
    with progress(label, len(images)) as (advance, _):
        for image in images:
            try:
                faces = work(image)
                if not faces:
                    raise NoFace(f"{image}: no face found")
            except FaceprintError as exc:
                failed += 1
                report_error(image, exc, as_json)
                continue
            finally:
                advance(1)
            show(image, faces)
    if failed:
        sys.exit(EXIT_ERROR)


def _pick(engine: Engine, image: Path, index: int | None) -> Face:
    """The face to verify in ``image``: the main one, or number ``index``; only that one is embedded."""
    chosen = engine.choose_face(image, index=index)
    if index is None and chosen.count > 1:
        note(
            f"{image}: {chosen.count} faces found, using face {chosen.index} (the largest, or the most central of "
            "faces of about its size; --face-a/--face-b choose another)"
        )
    return chosen.face


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
    """Are A and B the same person? Exit 0 yes, 1 no, 2 error.

    A face that appears masked is compared by the routed rule (docs/masks.md): the other photo's
    masked copies and occluded template are made on the spot.
    """
    from ..masked_enrol import verify_images

    engine = Engine(cli_settings(detector, upsample, mirror))
    engine.calibration.threshold(fmr)  # reject a bad --fmr before loading images
    fa, fb = _pick(engine, a, face_a), _pick(engine, b, face_b)
    match = verify_images(engine, (a, fa), (b, fb), fmr=fmr)
    if as_json:
        emit(
            {
                **match.to_json(),
                "a": {"image": str(a), "box": fa.box.as_list()},
                "b": {"image": str(b), "box": fb.box.as_list()},
            }
        )
    else:
        verdict = "same person" if match.is_match else "different people"
        if match.comparison is not None:
            click.echo(
                f"{verdict}: a masked face, routed rule (bare, masked, occluded comparisons): FMR "
                f"{match.fmr:.2g} against {fmr:g}, decided by the {match.comparison} comparison; "
                f"bare similarity {match.similarity:.4f}"
            )
        else:
            click.echo(
                f"{verdict}: similarity {match.similarity:.4f} (threshold {match.threshold:.4f} at FMR "
                f"{fmr:g}), distance {match.distance:.4f}, FMR at this score {match.fmr:.2g}"
            )
    sys.exit(0 if match.is_match else 1)


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
    from ..demo import run_demo
    from ..gallery import open_store

    settings = cli_settings(None, None, None)
    engine = Engine(settings)
    with open_store(engine=engine, actor="cli:demo") as store:
        run_demo(Console(highlight=False), out_dir=out, engine=engine, store=store)
