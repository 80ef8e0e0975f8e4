"""The service commands of the ``faceprint`` CLI: ``serve`` and ``keys create|list|revoke``."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import click

from ..extras import missing_extra
from ..store import SCOPES
from ._shared import cli, cli_settings, emit, open_gallery

__all__ = ["keys", "serve"]


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Inference worker processes (each loads the models, ~150 MB). [default: one per core]",
)
@click.option(
    "--library",
    "library",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A photo folder the People page (/people) may index; repeat for several. "
    "[env FACEPRINT_LIBRARY_ROOTS]",
)
def serve(host: str, port: int, workers: int | None, library: tuple[Path, ...]) -> None:
    """Run the HTTP API, the admin page (/admin/) and the People page (/people) on the store."""
    try:
        import uvicorn

        from ..service import create_app
    except ImportError as exc:
        raise missing_extra("server", "'faceprint serve'", exc) from None

    settings = cli_settings(None, None, None)
    if library:
        roots = os.pathsep.join(str(p.resolve()) for p in library)
        settings = dataclasses.replace(settings, library_roots=roots)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(settings, settings.store or None, workers=workers or os.cpu_count() or 1)
    # No access log from uvicorn: its lines carry the raw path (subject names); ours carries the
    # route template instead (faceprint.service).
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info", server_header=False)


@cli.group()
def keys() -> None:
    """API keys of the HTTP service (stored as scrypt hashes) and the store's encryption keys."""


@keys.command("create")
@click.option(
    "--name", required=True, help="Who or what uses the key; recorded as the actor in the audit log."
)
@click.option(
    "--scopes",
    required=True,
    help=f"Comma-separated, from: {','.join(SCOPES)} (admin implies all).",
)
def keys_create(name: str, scopes: str) -> None:
    """Create a key and print it once: only its hash is stored, it cannot be shown again."""
    with open_gallery() as store:
        record, secret = store.keys.create(name, scopes)
    click.echo(secret)
    click.echo(
        f"faceprint: key {record.name!r} ({record.key_id}) with scopes {','.join(sorted(record.scopes))}; "
        "store it now, it is not shown again",
        err=True,
    )


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per key.")
def keys_list(include_revoked: bool, as_json: bool) -> None:
    """The keys: name, id, scopes, creation (never the key or its hash)."""
    with open_gallery() as store:
        found = store.keys.list(include_revoked=include_revoked)
    for key in found:
        if as_json:
            emit(key.to_json())
        else:
            revoked = f", revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
            click.echo(
                f"{key.name} ({key.key_id}): {','.join(sorted(key.scopes))}; created {key.created_at:%Y-%m-%d}{revoked}"
            )


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke the active key called NAME; requests with it are refused from now on."""
    with open_gallery() as store:
        record = store.keys.revoke(name)
    click.echo(f"{record.name} ({record.key_id}): revoked")
