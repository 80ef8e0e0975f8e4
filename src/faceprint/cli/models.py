"""``faceprint models``: the models faceprint ships and the operator's own; ``faceprint calibrate``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from ..errors import InvalidInput, ModelError
from ..models.manifest import manifests
from ..models.onnx_recogniser import register
from ..models.operator import models_dir, operator_manifest, operator_models, save_calibration
from ..models.registry import DEFAULT_DETECTOR
from ._shared import cli, cli_settings, emit, engine_options, note, progress

__all__ = ["calibrate", "models"]


def _shipped(as_json: bool) -> None:
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


def _operators(as_json: bool) -> None:
    directory = models_dir(cli_settings(None, None, None).models_dir)
    for m in operator_models(directory).values():
        tables = sorted(p.name for p in m.directory.glob("calibration-*.json")) if m.directory else []
        if as_json:
            emit({**m.to_json(), "operator": True, "path": str(m.onnx_path), "calibrations": tables})
            continue
        click.echo(f"{m.name} [recogniser, operator's] model id {m.model_id}: {m.summary}".rstrip(": "))
        click.echo(
            f"  input:   {m.width}x{m.height} {m.colour} {m.layout}, (pixel - {list(m.mean)}) / {list(m.std)}"
        )
        align = "dlib's get_face_chip" if m.alignment.method == "dlib" else ", ".join(m.alignment.landmarks)
        click.echo(f"  output:  {m.dim} floats; alignment: {align}")
        click.echo(f"  licence: {m.licence}")
        click.echo(f"  source:  {m.source}")
        click.echo(f"  sha256:  {m.sha256}")
        click.echo(
            f"  calibration: {', '.join(tables) or 'none (faceprint calibrate DIR --model ' + m.name + ')'}"
        )


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per model, with every manifest field.")
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """The models faceprint can run: role, registry package, licence, SHA-256, and whether the
    weights are installed here (and match the recorded hash); then the operator's own models
    (FACEPRINT_MODELS_DIR). Without a subcommand: 'faceprint models list'."""
    if ctx.invoked_subcommand is None:
        _shipped(as_json)
        _operators(as_json)


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per model.")
def list_models(as_json: bool) -> None:
    """Every model: the shipped ones, then those registered with 'faceprint models add'."""
    _shipped(as_json)
    _operators(as_json)


@models.command()
@click.argument("onnx_file", type=click.Path(path_type=Path))
@click.option(
    "--manifest",
    "manifest_file",
    type=click.Path(path_type=Path),
    required=True,
    help="The model's JSON manifest: input size, colour order, mean/std, alignment, output, licence "
    "(docs/models.md).",
)
def add(onnx_file: Path, manifest_file: Path) -> None:
    """Register an operator's ONNX recogniser in the models directory (FACEPRINT_MODELS_DIR).

    The file's SHA-256, the graph's input and output shapes and a finite output on a real photo
    are checked against the manifest first; nothing is written unless all pass.
    """
    directory = models_dir(cli_settings(None, None, None).models_dir)
    m = register(onnx_file, manifest_file, directory)
    click.echo(f"registered {m.name} (model id {m.model_id}) in {m.directory}")
    click.echo(
        f"use it with FACEPRINT_RECOGNISER={m.name}; calibrate it with 'faceprint calibrate DIR --model {m.name}'"
    )


@models.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="One JSON line.")
def check(name: str, as_json: bool) -> None:
    """Load model NAME and embed a known photo (the astronaut faceprint ships) through the whole pipeline:
    detection, the manifest's alignment, the model. Prints the output shape and a hash of it."""
    import numpy as np

    from ..engine import Engine
    from ..models.onnx_recogniser import OnnxRecogniser, output_hash
    from ..samples import sample_photo

    settings = cli_settings(None, None, False)
    m = operator_manifest(models_dir(settings.models_dir), name)
    recogniser = OnnxRecogniser(m, threads=settings.threads)
    image = sample_photo("astronaut")
    faces = Engine(settings).detect(image)
    if not faces:
        raise ModelError("no face found in the astronaut photo: the detector is not working")
    raw = recogniser.embed_chips([recogniser.cut(image, faces[0].points)])
    record = {
        "name": m.name,
        "model_id": m.model_id,
        "input": [m.height, m.width, 3],
        "output_shape": list(raw.shape),
        "norm": round(float(np.linalg.norm(raw[0])), 4),
        "hash": output_hash(raw[0]),
        "status": "ok",
    }
    if as_json:
        emit(record)
        return
    click.echo(f"{m.name} (model id {m.model_id}): ok")
    click.echo(
        f"  astronaut: chip {m.width}x{m.height}, output shape {tuple(raw.shape)}, norm {record['norm']}"
    )
    click.echo(f"  output hash: {record['hash']} (unit vector rounded to 3 decimals)")


@models.command("export-dlib")
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--name", default="dlib-resnet-onnx", show_default=True, help="The model's name in its manifest."
)
def export_dlib(out: Path, name: str) -> None:
    """Write dlib's ResNet (a shipped recogniser) as OUT/NAME.onnx with its manifest OUT/NAME.json,
    ready for 'faceprint models add' (a worked example of an operator's model)."""
    from ..models.export_dlib import export_dlib_resnet

    onnx_path, manifest_path = export_dlib_resnet(out, name)
    click.echo(f"wrote {onnx_path} and {manifest_path}")
    click.echo(f"register it with: faceprint models add {onnx_path} --manifest {manifest_path}")


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--model", "model", required=True, help="The registered operator's model to calibrate.")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=None, help="Embedding processes (default: one per core)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per FMR.")
@engine_options
def calibrate(
    folder: Path,
    model: str,
    workers: int | None,
    as_json: bool,
    detector: str | None,
    upsample: int | None,
    mirror: bool | None,
) -> None:
    """Measure model MODEL's score -> FMR table on FOLDER (one sub-folder of photos per person):
    every cross-identity pair is an impostor pair, every same-identity pair a genuine one. The
    table is stored with the model; the thresholds for FMR 1e-2 ... 1e-6 are printed, each with
    the impostor pairs behind it (an FMR the data cannot resolve is refused)."""
    import numpy as np

    from ..calibrate_folder import REPORT_FMRS, calibrate_folder, folder_files

    settings = dataclasses.replace(cli_settings(detector, upsample, mirror), recogniser=model)
    m = operator_manifest(models_dir(settings.models_dir), model)
    total = len(folder_files(folder))
    with progress("embedding", total) as (advance, _):
        result = calibrate_folder(folder, settings, workers=workers, progress=advance)
    table = result.table
    path = save_calibration(m, table)
    note(
        f"{result.images} photos of {result.people} people ({result.no_face} without a face left out): "
        f"{table.n_impostor:,} impostor and {table.n_genuine:,} genuine pairs; table {table.model} written to {path}"
    )
    if not as_json:
        click.echo(f"{'FMR':>8} {'threshold':>10} {'impostor pairs above':>24} {'FNMR':>8}")
    for fmr in REPORT_FMRS:
        try:
            threshold = table.threshold(fmr)
        except InvalidInput:
            need = round(1 / fmr)
            if as_json:
                emit({"fmr": fmr, "threshold": None, "impostor_pairs": table.n_impostor, "needed": need})
            else:
                click.echo(
                    f"{fmr:8.0e} {'refused':>10}: {table.n_impostor:,} impostor pairs resolve FMRs down to "
                    f"{table.min_fmr:.1e}; this one needs at least {need:,}"
                )
            continue
        fnmr = table.fnmr(fmr)
        idx = int(np.searchsorted(table.counts, fmr * table.n_impostor, side="right")) - 1
        above = int(table.counts[max(idx, 0)])
        if as_json:
            emit(
                {
                    "fmr": fmr,
                    "threshold": round(threshold, 6),
                    "impostors_above": above,
                    "impostor_pairs": table.n_impostor,
                    "fnmr": fnmr,
                }
            )
        else:
            shown = "-" if fnmr is None else f"{fnmr:.4f}"
            click.echo(f"{fmr:8.0e} {threshold:10.4f} {f'{above:,} of {table.n_impostor:,}':>24} {shown:>8}")
