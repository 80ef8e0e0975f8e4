"""``faceprint demo``: the engine end to end on the public-domain photos faceprint ships.

:mod:`faceprint.samples` holds a portrait of astronaut Eileen Collins (NASA) and one of Grace
Hopper (US Navy). No second photo of either person ships, so the "same person" case compares the
astronaut photo with a changed copy of it (mirrored, shrunk, darkened, JPEG-recompressed).
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageEnhance
from rich.console import Console
from rich.table import Table

from .draw import draw_faces, save_image
from .engine import Engine
from .gallery import Gallery as Store
from .imageio import RGBImage, decode, load_image
from .samples import sample_path, sample_photo

__all__ = ["run_demo", "sample_images"]


def sample_images() -> dict[str, RGBImage]:
    """The demo photos: name -> RGB array."""
    astronaut = load_image(sample_photo("astronaut"))
    hopper = load_image(sample_path("grace_hopper"))
    return {
        "astronaut (NASA)": astronaut,
        "astronaut, changed copy": _changed_copy(astronaut),
        "grace_hopper (US Navy)": hopper,
    }


def _changed_copy(rgb: RGBImage) -> RGBImage:
    im = Image.fromarray(rgb).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    im = im.resize((im.width * 7 // 10, im.height * 7 // 10), Image.Resampling.LANCZOS)
    im = ImageEnhance.Brightness(im).enhance(0.75)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=60)
    return decode(buf.getvalue(), name="changed copy")


def run_demo(
    console: Console, *, out_dir: Path | None = None, engine: Engine | None = None, store: Store | None = None
) -> None:
    """Detect faces on the sample photos, verify two pairs, search a gallery, and print a report.

    With a ``store``, the astronaut is enrolled (purpose "faceprint demo"), both other photos
    are searched, and the demo subject is erased again, leaving only audit rows.
    """
    engine = engine or Engine()
    console.print(
        f"[bold]faceprint demo[/bold]: templates {engine.model_id} (see 'faceprint models'), "
        "running on this machine only.\n"
    )
    images = sample_images()
    faces_table = Table(title="Detection", title_justify="left")
    for column in ("image", "size", "faces", "largest face box", "detector score"):
        faces_table.add_column(column)
    templates = {}
    for name, rgb in images.items():
        faces = engine.embed(rgb)
        largest = templates[name] = faces[0] if faces else None
        faces_table.add_row(
            name,
            f"{rgb.shape[1]}x{rgb.shape[0]}",
            str(len(faces)),
            ", ".join(f"{v:.0f}" for v in largest.box.as_list()) if largest else "-",
            f"{largest.score:.2f}" if largest else "-",
        )
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            slug = name.split(" (")[0].replace(",", "").replace(" ", "_")
            save_image(draw_faces(rgb, faces), out_dir / f"{slug}.faces.png")
    console.print(faces_table)

    fmr = 1e-3
    calibration = engine.calibration
    verify_table = Table(
        title=f"Verification at FMR {fmr:g} (threshold: similarity >= {calibration.threshold(fmr):.3f})",
        title_justify="left",
    )
    for column in ("pair", "similarity", "distance", "FMR at score", "decision"):
        verify_table.add_column(column)
    names = list(images)
    for a, b in ((names[0], names[1]), (names[0], names[2])):
        fa, fb = templates[a], templates[b]
        if fa is None or fb is None:
            verify_table.add_row(f"{a} / {b}", "-", "-", "-", "no face found")
            continue
        match = engine.verify(fa, fb, fmr=fmr)
        verify_table.add_row(
            f"{a} / {b}",
            f"{match.similarity:.3f}",
            f"{match.distance:.3f}",
            f"{match.fmr:.1e}",
            "[green]same person[/green]" if match.is_match else "[red]different people[/red]",
        )
    console.print(verify_table)
    console.print(
        f"\nThresholds come from {calibration.n_impostor:,} impostor pairs measured on LFW "
        f"(see docs/calibration.md); nothing left this machine."
    )
    if store is not None:
        _gallery_demo(console, store, images)
    if out_dir is not None:
        console.print(f"Annotated images written to {out_dir}/")


def _gallery_demo(console: Console, store: Store, images: dict[str, RGBImage]) -> None:
    purpose, subject = "faceprint demo", "demo: Eileen Collins"
    names = list(images)
    store.enroll(subject, [images[names[0]]], purpose=purpose, evidence="public-domain sample photo (NASA)")
    table = Table(
        title=f"1:N search in {store.location} (purpose {purpose!r}, FMR 1e-3)", title_justify="left"
    )
    for column in ("probe", "answer", "similarity", "FMR at score"):
        table.add_column(column)
    for name in names[1:]:
        result = store.search(images[name], purpose=purpose)
        matches = result.faces[0].matches
        if matches:
            table.add_row(
                name,
                f"[green]{matches[0].subject}[/green]",
                f"{matches[0].similarity:.3f}",
                f"{matches[0].fmr:.1e}",
            )
        else:
            table.add_row(name, "[yellow]no match[/yellow] (not enrolled)", "-", "-")
    console.print(table)
    erased = store.erase(subject, reason="end of demo")
    entries = [e for e in store.audit(limit=4) if subject in e.subjects or e.purpose == purpose]
    console.print(
        f"Erased {erased.subject!r} ({erased.templates} template, bytes overwritten). Audit rows kept, "
        "without biometric data:"
    )
    for entry in reversed(entries):
        console.print(
            f"  {entry.at:%H:%M:%S} {entry.actor} {entry.operation} {', '.join(entry.subjects) or '-'}"
        )
