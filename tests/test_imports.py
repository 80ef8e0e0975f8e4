"""``import faceprint`` stays lean: no vector index, web framework or plotting library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Top-level packages a program that only embeds faces must never pay for.
HEAVY = {
    "faiss",
    "fastapi",
    "starlette",
    "uvicorn",
    "matplotlib",
    "skimage",
    "prometheus_client",
    "psycopg",
    "ray",
}


def _loaded(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in json.loads(out)}


def test_import_faceprint_loads_only_the_errors() -> None:
    loaded = _loaded("import faceprint")
    assert loaded & HEAVY == set()
    assert loaded & {"numpy", "PIL", "onnxruntime", "click"} == set()


@pytest.mark.parametrize(
    "name", ["Engine", "Face", "Settings", "Calibration", "load_image", "Store", "Library"]
)
def test_opening_names_loads_no_vector_index_server_or_plots(name: str) -> None:
    assert _loaded(f"import faceprint\nfaceprint.{name}") & HEAVY == set()


def test_every_public_name_resolves() -> None:
    import faceprint

    for name in faceprint.__all__:
        assert getattr(faceprint, name) is not None, name
    with pytest.raises(AttributeError):
        faceprint.no_such_name  # noqa: B018
