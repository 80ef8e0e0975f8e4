"""The gallery commands of the ``faceprint`` CLI: enroll, search, subjects, erase, audit, store."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path

import click

from ..errors import FaceprintError, InvalidInput
from ._shared import (
    EXIT_ERROR,
    cli,
    cli_settings,
    emit,
    engine_options,
    error_line,
    note,
    open_gallery,
    progress,
    report_error,
)

EXIT_NO_MATCH = 1


def _expiry(text: str | None) -> datetime | None:
    """``--expires``: a date (consent ends at 00:00 UTC that day) or an ISO date-time (UTC if no zone)."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--expires must be a date like 2027-12-31, not {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_purpose_option = click.option(
    "--purpose", required=True, help="Why these faces are processed; the consent record names it."
)


@cli.command()
@click.argument("subject", required=False)
@click.argument("images", nargs=-1, type=click.Path(path_type=Path))
@_purpose_option
@click.option("--evidence", default=None, help="How consent was obtained (e.g. a form reference).")
@click.option("--expires", default=None, help="Consent expiry: a date (YYYY-MM-DD) or ISO date-time.")
@click.option(
    "--from-csv",
    "from_csv",
    type=click.Path(path_type=Path),
    default=None,
    help="Enrol the rows of a CSV with columns subject,image (resumable).",
)
@click.option("--largest-face", is_flag=True, help="Enrol the largest face even when others are as large.")
@click.option(
    "--masked-copies",
    is_flag=True,
    help="Also store each photo with synthetic masks and its occluded template, for masked probes.",
)
@engine_options
def enroll(
    subject: str | None,
    images: Sequence[Path],
    purpose: str,
    evidence: str | None,
    expires: str | None,
    from_csv: Path | None,
    largest_face: bool,
    masked_copies: bool,
    detector: str | None,
    upsample: int | None,
    mirror: bool | None,
) -> None:
    """Enrol SUBJECT from one or more photos, under a consent record for --purpose.

    All or nothing: if any photo fails, nothing is written. With --from-csv, each subject is
    its own transaction, bad rows are reported and skipped (exit 1), and a re-run skips what is
    already enrolled.
    """
    from ..store.bulk import enroll_rows, read_enrolment_csv

    expires_at = _expiry(expires)
    if from_csv is not None:
        if subject is not None or images:
            raise InvalidInput("give either SUBJECT IMAGE... or --from-csv FILE, not both")
        rows = read_enrolment_csv(from_csv)
        with (
            open_gallery(detector, upsample, mirror) as store,
            progress("enrolling", len(rows)) as (advance, _),
        ):
            report = enroll_rows(
                store,
                rows,
                purpose=purpose,
                evidence=evidence,
                expires_at=expires_at,
                largest_face=largest_face,
                masked_copies=masked_copies,
                progress=advance,
            )
        for failure in report.failures:
            error_line(f"{failure.subject}: {failure.message}")
        click.echo(
            f"enrolled {report.added} face(s) into {report.subjects} subject(s); {report.skipped} already "
            f"enrolled, {len(report.failures)} failed"
        )
        sys.exit(EXIT_NO_MATCH if report.failures else 0)
    if subject is None or not images:
        raise InvalidInput("give SUBJECT and at least one IMAGE (or --from-csv FILE)")
    with open_gallery(detector, upsample, mirror) as store:
        result = store.enroll(
            subject,
            images,
            purpose=purpose,
            evidence=evidence,
            expires_at=expires_at,
            largest_face=largest_face,
            masked_copies=masked_copies,
        )
    what = "created" if result.created else "extended"
    unit = "template(s) (with masked copies)" if masked_copies else "face(s)"
    click.echo(f"{result.subject}: {what}, {result.added} {unit} enrolled, {result.skipped} already enrolled")


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@_purpose_option
@click.option("--top-k", type=click.IntRange(1, 100), default=5, show_default=True, help="Subjects per face.")
@click.option(
    "--fmr",
    type=float,
    default=None,
    help="Set the threshold by the false match rate per comparison instead (e.g. 1e-3).",
)
@click.option(
    "--fpir",
    type=float,
    default=None,
    help="Share of strangers who may be given a name (default 0.01): threshold at FMR = FPIR / subjects.",
)
@click.option("--all-faces", is_flag=True, help="Search every face of each image, not only the largest.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per image.")
@engine_options
def search(
    images: Sequence[Path],
    purpose: str,
    top_k: int,
    fmr: float | None,
    fpir: float | None,
    all_faces: bool,
    as_json: bool,
    detector: str | None,
    upsample: int | None,
    mirror: bool | None,
) -> None:
    """Who is in each image? Exit 0 when some face matched, 1 when none, 2 when nothing matched and
    an image failed (unreadable, no face) — failed images are reported and the run goes on.

    By default at most 1% of strangers get a name (--fpir 0.01, whatever the gallery's size);
    every answer says which threshold it used and why.
    """
    matched = failed = 0
    with (
        open_gallery(detector, upsample, mirror) as store,
        progress("searching", len(images)) as (advance, _),
    ):
        for image in images:
            try:
                result = store.search(
                    image, purpose=purpose, top_k=top_k, fmr=fmr, fpir=fpir, all_faces=all_faces
                )
            except FaceprintError as exc:
                if exc.code in ("consent_required", "store_error", "invalid_input"):
                    raise  # the same for every image: stop
                failed += 1
                report_error(image, exc, as_json)
                continue
            finally:
                advance(1)
            matched += result.matched
            if as_json:
                emit({"image": str(image), **result.to_json()})
                continue
            why = f"threshold {result.threshold:.4f}: {result.rule}"
            for face in result.faces:
                where = (
                    "" if face.box is None else " [" + ", ".join(f"{v:.0f}" for v in face.box.as_list()) + "]"
                )
                found = ", ".join(
                    f"{m.subject} (similarity {m.similarity:.3f}, FMR {m.fmr:.1g}"
                    + (f", {m.comparison} comparison)" if m.comparison else ")")
                    for m in face.matches
                )
                masked = " (masked)" if face.masked else ""
                click.echo(f"{image}{where}{masked}: {found or 'no match'} ({face.rule or why})")
    sys.exit(0 if matched else EXIT_ERROR if failed else EXIT_NO_MATCH)


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per subject.")
@click.pass_context
def subjects(ctx: click.Context, as_json: bool) -> None:
    """List the enrolled subjects with their consent and number of templates."""
    if ctx.invoked_subcommand is not None:
        return
    with open_gallery() as store:
        found = store.subjects()
    for subject in found:
        if as_json:
            emit(subject.to_json())
        else:
            consent = subject.consent
            until = f", until {consent.expires_at:%Y-%m-%d}" if consent.expires_at else ""
            click.echo(f"{subject.name}: {subject.templates} template(s); purpose {consent.purpose!r}{until}")
    if not found and not as_json:
        note(f"no subjects in {store.location}")


@cli.command()
@click.argument("subject")
@click.option(
    "--reason", default=None, help="Why (e.g. 'subject request 2026-11-25'); kept in the audit log."
)
def erase(subject: str, reason: str | None) -> None:
    """Erase SUBJECT: consent, templates and their bytes on disk. Irreversible."""
    with open_gallery() as store:
        result = store.erase(subject, reason=reason)
    click.echo(f"{result.subject}: erased with {result.templates} template(s)")
    if not result.wal_cleared and store.path is None:
        note(
            "PostgreSQL's VACUUM after the erasure failed; it runs again with the next erasure or autovacuum"
        )
    elif not result.wal_cleared:
        note("another process is reading the store; its write-ahead log is cleared at its next checkpoint")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON line per entry.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the newest N entries.")
@click.option("--subject", default=None, help="Only entries about this subject.")
def audit(as_json: bool, limit: int | None, subject: str | None) -> None:
    """Show the audit log, newest first: who did what, when, for which purpose."""
    with open_gallery() as store:
        entries = store.audit(limit=limit, subject=subject)
    for entry in entries:
        if as_json:
            emit(entry.to_json())
        else:
            who = ", ".join(entry.subjects) or "-"
            purpose = f" purpose {entry.purpose!r}" if entry.purpose else ""
            when = f"{entry.at:%Y-%m-%d %H:%M:%S}"
            click.echo(f"{when} {entry.actor} {entry.operation}{purpose}: {who} ({entry.results})")


@cli.group("store")
def store_group() -> None:
    """Maintain the store: its schema, and its vector index (a cache of the templates table)."""


@store_group.command("reindex")
def store_reindex() -> None:
    """Rebuild the vector index from the database."""
    with open_gallery() as store:
        count = store.rebuild_index()
    click.echo(f"indexed {count} template(s)")


@store_group.command("migrate")
def store_migrate() -> None:
    """Bring the store's schema up to this faceprint's version (opening a store does it too).

    Refused, changing nothing, when the store's schema is newer than this faceprint.
    """
    from ..store.database import open_database
    from ..store.gallery import default_store_path
    from ..store.schema import SCHEMA_VERSION

    location = cli_settings(None, None, None).store or str(default_store_path())
    db = open_database(location)
    try:
        version = db.schema_version()
    finally:
        db.close()
    click.echo(f"{db.location}: schema version {version} (this faceprint: {SCHEMA_VERSION})")
