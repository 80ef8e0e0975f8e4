"""``faceprint store migrate-model``: change a store's model (docs/models.md, "Changing a store's model")."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from ..errors import InvalidInput
from ._shared import cli_settings, emit, engine_options, error_line, note, progress
from .gallery import store_group

__all__ = ["migrate_model"]

_REASONS = {
    "not_in_csv": "not in the CSV",
    "consent_expired": "consent expired or idle past the limit (not processed again)",
    "no_face": "no face in its photos",
    "many_faces": "several faces of similar size in its photos (--largest-face takes the main one)",
}


@store_group.command("migrate-model")
@click.option(
    "--to",
    "to",
    required=True,
    help="The new model: a shipped recogniser (sface, the default; resnet, dlib's), or an operator's "
    "model registered with 'faceprint models add'.",
)
@click.option(
    "--from-csv",
    "from_csv",
    type=click.Path(path_type=Path),
    required=True,
    help="The subjects' source photos: a CSV with columns subject,image (as for 'enroll --from-csv').",
)
@click.option(
    "--drop-missing",
    is_flag=True,
    help="Switch even if some subjects get no template of the new model: those are erased (audited).",
)
@click.option("--largest-face", is_flag=True, help="Take the largest face even when others are as large.")
@click.option(
    "--uncalibrated",
    is_flag=True,
    help="Allow a model without a calibration table (searches then refuse FMRs).",
)
@click.option(
    "--batch",
    "batch_size",
    type=click.IntRange(1, 10_000),
    default=16,
    show_default=True,
    help="Subjects written per transaction (a re-run resumes after the last one committed).",
)
@click.option("--json", "as_json", is_flag=True, help="The summary as one JSON line.")
@engine_options
def migrate_model(
    to: str,
    from_csv: Path,
    drop_missing: bool,
    largest_face: bool,
    uncalibrated: bool,
    batch_size: int,
    as_json: bool,
    detector: str | None,
    upsample: int | None,
    mirror: bool | None,
) -> None:
    """Re-enrol every subject from its source photos with model --to, then switch the store to it.

    The new templates are written beside the old ones (a new generation) while searches go on
    with the old model; when every subject has one, the store switches in one transaction and
    the old templates are erased. Consent records and the audit trail stay. Resumable: a re-run
    skips the subjects already written. Exit 0 when switched, 1 when some subjects are still
    missing (nothing switched), 2 on an error.
    """
    from ..engine import Engine
    from ..model_migration import migrate_model as run
    from ..store.bulk import read_enrolment_csv
    from ..store.gallery import Store, default_store_path, os_user

    if not to.strip():
        raise InvalidInput("--to needs a model name")
    base = cli_settings(detector, upsample, mirror)
    settings = dataclasses.replace(base, recogniser=to)
    rows = read_enrolment_csv(from_csv)
    engine = Engine(settings).load()  # an unknown or broken model fails here, before the store is opened
    with Store(settings.store or default_store_path(), settings=base, actor=f"cli:{os_user()}") as store:
        engine = engine.following(store.template_models())
        with progress("migrating", len(store)) as (advance, _):
            report = run(
                store,
                engine,
                rows,
                drop_missing=drop_missing,
                largest_face=largest_face,
                uncalibrated=uncalibrated,
                batch_size=batch_size,
                progress=advance,
            )
    for failure in report.failures:
        error_line(f"{failure.subject}: {_REASONS.get(failure.reason, failure.reason)}")
    if as_json:
        emit(report.to_json())
    else:
        earlier = f", {report.resumed} by an earlier run" if report.resumed else ""
        click.echo(
            f"{report.migrated} subject(s) ({report.templates} template(s)) written for {report.model}"
            f"{earlier}; {report.photos_failed} photo(s) without a usable face, {report.unknown} CSV "
            "subject(s) not in the store"
        )
        if report.switched:
            dropped = f"; {len(report.dropped)} subject(s) without one erased" if report.dropped else ""
            click.echo(
                f"switched from {report.old_model} to {report.model} (generation {report.generation}); "
                f"the old templates are erased{dropped}"
            )
    if report.abandoned:
        note(f"the unfinished migration to {report.abandoned} was abandoned for this one")
    if not report.switched:
        counts = ", ".join(
            f"{n} {_REASONS.get(r, r)}" for r, n in sorted(report.to_json()["failures"].items())
        )
        note(
            f"not switched: {len(report.failures)} subject(s) have no {report.model} template ({counts}); "
            f"the store still answers with {report.old_model}. Re-run with their photos, or with "
            "--drop-missing to erase them"
        )
        sys.exit(1)
