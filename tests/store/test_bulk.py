from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from faceprint import Store
from faceprint.errors import InvalidInput
from faceprint.imageio import RGBImage
from faceprint.store.bulk import enroll_rows, read_enrolment_csv


def write_images(root: Path, samples: dict[str, RGBImage]) -> dict[str, Path]:
    out = {}
    for name, rgb in samples.items():
        out[name] = root / f"{name}.jpg"
        Image.fromarray(rgb).save(out[name], quality=95)
    return out


def test_rows_enrol_per_subject_and_resume(
    tmp_path: Path, store: Store, samples: dict[str, RGBImage], no_face_png: Path
) -> None:
    images = write_images(tmp_path, samples)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    csv = tmp_path / "rows.csv"
    csv.write_text(
        "subject,image\n"
        f"eileen,{images['astronaut'].name}\n"
        f"grace,{images['hopper'].name}\n"
        "eileen,broken.jpg\n"
        f"eileen,{images['astronaut_copy'].name}\n"
        f"nobody,{no_face_png}\n"
    )
    rows = read_enrolment_csv(csv)
    assert rows[0] == ("eileen", tmp_path / images["astronaut"].name)
    ticks: list[int] = []
    report = enroll_rows(store, rows, purpose="p", progress=ticks.append)
    assert (report.subjects, report.added, report.skipped) == (2, 3, 0)
    assert sorted((f.subject, f.code) for f in report.failures) == [
        ("eileen", "invalid_image"),
        ("nobody", "no_face"),
    ]
    assert all(Path(f.image).name in f.message for f in report.failures)  # each error names its file
    assert sum(ticks) == len(rows)
    assert {s.name: s.templates for s in store.subjects()} == {"eileen": 2, "grace": 1}

    again = enroll_rows(store, rows, purpose="p")
    assert (again.subjects, again.added, again.skipped) == (0, 0, 3)
    assert len([e for e in store.audit() if e.operation == "enroll"]) == 2


@pytest.mark.parametrize(
    "content, message",
    [
        ("name,file\na,b.jpg\n", "header"),
        ("subject,image\na,\n", "required"),
        (b"\xff\xfe\x00garbage", "CSV"),
    ],
)
def test_bad_csv_files_are_typed_errors(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "rows.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        read_enrolment_csv(path)
    with pytest.raises(InvalidInput, match="cannot read"):
        read_enrolment_csv(tmp_path / "missing.csv")
