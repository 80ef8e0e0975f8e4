"""The benchmark commands of the ``faceprint`` CLI: ``evaluate lfw`` and ``evaluate identify``."""

from __future__ import annotations

from pathlib import Path

import click

from ..extras import import_extra
from ._shared import cli, cli_settings, emit, engine_options, progress


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
    from ..evaluate import evaluate_lfw, plot_lfw

    if plot is not None:  # before minutes of embedding, not after
        import_extra("matplotlib", "plot", "--plot")
    settings = cli_settings(detector, upsample, mirror)
    if masked is not None:
        from .masks import masked_lfw

        masked_lfw(directory, pairs, masked, settings, workers, cache, as_json)
        return
    with progress("embedding LFW", None) as (advance, set_total):
        report = evaluate_lfw(
            directory, pairs=pairs, settings=settings, workers=workers, progress=advance, on_total=set_total
        )
    if plot is not None:
        plot_lfw(report, plot)
    if as_json:
        emit(report.to_json())
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
    from ..identification import evaluate_identification, plot_det

    if plot is not None:  # before minutes of embedding, not after
        import_extra("matplotlib", "plot", "--plot")
    settings = cli_settings(detector, upsample, mirror)
    with progress("detecting and embedding", None) as (advance, set_total):
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
        emit(report.to_json())
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
