"""``faceprint evaluate lfw DIR --masked probe|both``: the masked LFW protocol's report."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import Settings
from ._shared import emit, progress


def masked_lfw(
    directory: Path,
    pairs: Path | None,
    mode: str,
    settings: Settings,
    workers: int | None,
    cache: Path | None,
    as_json: bool,
) -> None:
    """Run :func:`faceprint.masked_lfw.run_masked_lfw` and print its table."""
    from ..masked_lfw import run_masked_lfw

    with progress("embedding LFW, bare and masked", None) as (advance, set_total):
        report = run_masked_lfw(
            directory,
            mode=mode,
            pairs=pairs,
            settings=settings,
            workers=workers,
            cache=cache,
            progress=advance,
            on_total=set_total,
        )
    if as_json:
        emit(report)
        return
    click.echo(f"masked LFW 10-fold, masks on {mode} (model {report['model']})")
    rows = report["reports"]
    assert isinstance(rows, list)
    for row in rows:
        click.echo(
            f"  {row['name']:26s} accuracy {row['accuracy']:.4f} ± {row['accuracy_std']:.4f}  "
            f"TAR@FAR=1e-3 {row['tar_at_far_1e-3']:.4f}  EER {row['eer']:.4f}"
        )
    click.echo(
        f"{report['images_masked']} masked images: {report['faces_lost_by_detector']} faces lost by the "
        f"detector ({report['faces_lost_unmasked']} without masks); landmarks moved by "
        f"{report['landmark_error_median']} eye distances (median), {report['landmark_error_p90']} (90th "
        f"percentile)"
    )
    click.echo(
        f"mask test: {report['mask_test_found']:.4f} of masked faces called masked, "
        f"{report['mask_test_false_on_bare']:.4f} of bare faces; masked table {report['masked_calibration']}, "
        f"occluded table {report['occluded_calibration']}"
    )
