"""``import faceprint`` stays lean: no vector index, web framework or plotting library; embedding
needs no optional package, and a command that needs one names its extra."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


#: The packages of the optional extras ([server], [plot], [postgres], [dlib]) and scikit-image
#: (no longer used): a fresh install of faceprint alone has none of them.
OPTIONAL = {
    "matplotlib",
    "skimage",
    "fastapi",
    "starlette",
    "uvicorn",
    "multipart",
    "python_multipart",
    "prometheus_client",
    "psycopg",
    "psycopg_pool",
    "dlib",
}

#: Run first in the subprocess: every import of an OPTIONAL package fails as if it were not installed.
_BLOCK = f"""
import importlib.abc, sys
class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {sorted(OPTIONAL)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Blocked())
"""


def _without_extras(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _BLOCK + code], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.mark.slow
def test_import_and_embedding_need_no_optional_package(tmp_path: Path) -> None:
    """Embedding works without any extra, the int8 detector graph built in a fresh cache included
    (it is calibrated on the photos faceprint ships), and that graph is the one built before."""
    from faceprint.models.onnx_graph import cache_dir

    home = cache_dir(os.environ.get("FACEPRINT_CACHE_DIR", ""))
    # the other graphs take long to build and are not in question
    for cached in home.glob("*") if home.is_dir() else []:
        if cached.is_file() and "-int8-" not in cached.name:
            shutil.copy2(cached, tmp_path / cached.name)
    code = """
import json, faceprint
from faceprint.samples import sample_path
faces = faceprint.Engine().embed(sample_path("astronaut"))
print(json.dumps({"faces": len(faces), "dim": len(faces[0].template.vector),
                  "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""
    env = {**os.environ, "FACEPRINT_CACHE_DIR": str(tmp_path), "FACEPRINT_DETECTOR": "blazeface"}
    done = _without_extras(code, env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["faces"] == 1 and out["dim"] == 128
    assert set(out["loaded"]) & OPTIONAL == set()
    built = sorted(tmp_path.glob("*-int8-*.onnx"))
    assert len(built) == 1
    before = home / built[0].name
    if before.is_file():  # the same graph as one built from scikit-image's and matplotlib's files
        assert hashlib.sha256(built[0].read_bytes()).digest() == hashlib.sha256(before.read_bytes()).digest()


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["serve"], "server"),
        (["evaluate", "lfw", "no-such-dir", "--plot", "roc.png"], "plot"),
        (["evaluate", "identify", "no-such-dir", "--plot", "det.png"], "plot"),
        (["--store", "postgresql://nowhere/db", "audit"], "postgres"),
    ],
)
def test_commands_that_need_an_extra_name_it(args: list[str], extra: str) -> None:
    done = _without_extras(f"from faceprint.cli import main\nmain({args!r})")
    assert done.returncode == 2, done.stderr
    assert f"pip install 'faceprint[{extra}]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_extra_is_a_typed_error() -> None:
    done = _without_extras(
        "import faceprint\n"
        "from faceprint.errors import MissingExtra\n"
        "try:\n"
        "    faceprint.open_store('postgresql://nowhere/db')\n"
        "except MissingExtra as exc:\n"
        "    print(exc.code, exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("missing_extra ") and "faceprint[postgres]" in done.stdout
