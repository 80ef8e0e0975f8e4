"""``faceprint demo``: the engine end to end on photos that installed packages ship.

scikit-image ships a portrait of astronaut Eileen Collins, matplotlib one of Grace Hopper. No
second photo of either person ships with a package, so the "same person" case compares the
astronaut photo with a changed copy of it (mirrored, shrunk, darkened, JPEG-recompressed).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance
from rich.console import Console
from rich.table import Table

from .draw import draw_faces, save_image
from .engine import Engine
from .errors import ModelError
from .imageio import RGBImage, decode, load_image

__all__ = ["run_demo", "sample_images"]


def sample_images() -> dict[str, RGBImage]:
    """The demo photos: name -> RGB array."""
    try:
        import skimage.data
        from matplotlib import cbook
    except ImportError as exc:  # pragma: no cover - both are dependencies
        raise ModelError(f"the demo needs scikit-image and matplotlib ({exc})") from None
    astronaut = load_image(np.asarray(skimage.data.astronaut(), dtype=np.uint8))  # type: ignore[no-untyped-call]
    hopper = load_image(Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return {
        "astronaut (scikit-image)": astronaut,
        "astronaut, changed copy": _changed_copy(astronaut),
        "grace_hopper (matplotlib)": hopper,
    }


def _changed_copy(rgb: RGBImage) -> RGBImage:
    im = Image.fromarray(rgb).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    im = im.resize((im.width * 7 // 10, im.height * 7 // 10), Image.Resampling.LANCZOS)
    im = ImageEnhance.Brightness(im).enhance(0.75)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=60)
    return decode(buf.getvalue(), name="changed copy")


def run_demo(console: Console, *, out_dir: Path | None = None, engine: Engine | None = None) -> None:
    """Detect faces on the sample photos, verify two pairs, and print a short report."""
    engine = engine or Engine()
    console.print("[bold]faceprint demo[/bold]: dlib's CC0 models, running on this machine only.\n")
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
    if out_dir is not None:
        console.print(f"Annotated images written to {out_dir}/")
