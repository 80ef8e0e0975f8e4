from __future__ import annotations

import numpy as np
import pytest

from faceprint.faces import Box, Face, Template


def test_box_geometry() -> None:
    b = Box(10, 20, 50, 100)
    assert (b.width, b.height, b.area, b.center) == (40, 80, 3200, (30, 60))
    assert b.iou(b) == 1.0
    assert b.iou(Box(100, 100, 120, 120)) == 0.0
    assert Box(0, 0, 10, 10).iou(Box(5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert Box(5, 5, 5, 9).area == 0


def test_face_json_leaves_the_template_out_unless_asked() -> None:
    face = Face(
        box=Box(1, 2, 3, 4),
        score=0.5,
        landmarks=np.zeros((5, 2)),
        template=Template(np.ones(4, np.float32), "m"),
    )
    assert "template" not in face.to_json()
    full = face.to_json(with_template=True)
    assert full["template"] == pytest.approx([0.5] * 4) and full["model"] == "m"
    assert Template.from_list(full["template"], "m").dim == 4
