"""``faceprint models``: the models faceprint ships, from their manifests."""

from __future__ import annotations

import click

from ..errors import ModelError
from ..models.manifest import manifests
from ..models.registry import DEFAULT_DETECTOR
from ._shared import cli, emit

__all__ = ["models"]


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON line per model, with every manifest field.")
def models(as_json: bool) -> None:
    """The models faceprint can run: role, registry package, licence, SHA-256, and whether the
    weights are installed here (and match the recorded hash)."""
    for m in manifests().values():
        try:
            where = "built into " + m.package if m.file is None else str(m.verified_path())
            status = "ok"
        except ModelError as exc:
            where, status = "", str(exc)
        if as_json:
            record = {k: v for k, v in vars(m).items()}
            record["backends"] = list(m.backends)
            emit({**record, "path": where, "status": status, "default": m.name == DEFAULT_DETECTOR})
            continue
        default = " (default detector)" if m.name == DEFAULT_DETECTOR else ""
        click.echo(f"{m.name} [{m.role}]{default}: {m.summary}")
        click.echo(f"  weights: {m.package} {m.version or ''} {m.file or '(compiled in)'}".rstrip())
        click.echo(f"  licence: {m.licence}")
        if m.sha256:
            click.echo(f"  sha256:  {m.sha256}")
        click.echo(f"  status:  {status}{'' if status != 'ok' else ' — ' + where}")
