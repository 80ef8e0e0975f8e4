"""The privacy commands of the ``faceprint`` CLI: keys, retention, consent, subject export, record."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._shared import cli, emit, note, open_gallery
from .gallery import subjects
from .service import keys


@keys.command("rotate-storage-key")
def rotate_storage_key() -> None:
    """Re-encrypt every template under a new AES-256 storage key; the old key is destroyed."""
    with open_gallery() as store:
        count = store.rotate_keys(storage=True)
    click.echo(f"re-encrypted {count} template(s) under a new storage key")


@keys.command("rotate-template-key")
def rotate_template_key() -> None:
    """Re-protect every template under a new transform: templates copied before no longer match."""
    with open_gallery() as store:
        count = store.rotate_keys(template=True)
    click.echo(f"re-protected {count} template(s) under a new template key")


@cli.group()
def retention() -> None:
    """Apply the retention rules: consent expiry and the idle limit (FACEPRINT_MAX_IDLE_DAYS)."""


@retention.command("sweep")
@click.option("--dry-run", is_flag=True, help="List what is due without erasing it.")
def retention_sweep(dry_run: bool) -> None:
    """Erase every subject whose consent expired or who was idle past the limit (audited)."""
    with open_gallery() as store:
        if dry_run:
            for name, reason in store.due():
                click.echo(f"{name}: due ({reason})")
            return
        erased = store.sweep()
    for result in erased:
        click.echo(f"{result.subject}: erased with {result.templates} template(s)")
    note(f"retention sweep erased {len(erased)} subject(s)")


@cli.group()
def consent() -> None:
    """Consent records."""


@consent.command("withdraw")
@click.argument("subject")
def consent_withdraw(subject: str) -> None:
    """SUBJECT withdrew consent: stop matching now and erase everything held."""
    with open_gallery() as store:
        result = store.withdraw(subject)
    click.echo(f"{result.subject}: consent withdrawn; erased with {result.templates} template(s)")


@subjects.command("export")
@click.argument("subject")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Write the JSON here (default: stdout)."
)
def subjects_export(subject: str, out: Path | None) -> None:
    """Everything held about SUBJECT as JSON (consent, enrolments, audit rows): subject access."""
    with open_gallery() as store:
        data = store.export(subject)
    text = json.dumps(data, indent=2)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        note(f"wrote {out}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def record(as_json: bool) -> None:
    """The record of processing activities (GDPR Art. 30), generated from the store."""
    with open_gallery() as store:
        data = store.record()
    if as_json:
        emit(data)
        return
    click.echo(f"Record of processing — {data['store']}")
    click.echo(f"controller: {data['controller']}")
    for key in (
        "purposes",
        "categories_of_data",
        "data_subjects",
        "recipients",
        "transfers",
        "retention",
        "security_measures",
    ):
        value = data[key]
        click.echo(f"\n{key.replace('_', ' ')}:")
        if isinstance(value, list):
            for item in value:
                click.echo(
                    f"  - {item if not isinstance(item, dict) else ', '.join(f'{k} {v}' for k, v in item.items())}"
                )
        elif isinstance(value, dict):
            for k, v in value.items():
                click.echo(f"  {k}: {v}")
        else:
            click.echo(f"  {value}")
