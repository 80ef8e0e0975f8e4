"""One typed settings object, read from ``FACEPRINT_*`` environment variables. No globals."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import InvalidInput
from .models.registry import BACKENDS, DEFAULT_DETECTOR, BackendName, detector_names

__all__ = ["BackendName", "Settings"]
_ENV_PREFIX = "FACEPRINT_"
#: Ends the model id of mirror-averaged templates.
MIRROR_SUFFIX = "+mirror"
#: The template space of dlib's ResNet (the shipped recogniser ``resnet``, the default before SFace).
DLIB_MODEL_ID = "dlib-resnet-v1"
_BOOLEANS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


@dataclass(frozen=True)
class Settings:
    """Engine settings. Every field can be set from the environment as ``FACEPRINT_<FIELD>``."""

    #: Face detector, a name from the model registry (``faceprint models``): ``blazeface``
    #: (default: MediaPipe's BlazeFace on a pyramid of a ~1000 px working image, fast on phone
    #: photos), ``cnn`` (dlib's MMOD CNN, boxes equal to dlib's) or ``hog`` (dlib's HOG + linear
    #: SVM; needs dlib installed, the ``dlib`` extra).
    detector: str = DEFAULT_DETECTOR
    #: How many times the working image is doubled before detection; empty: the detector's own
    #: default (``blazeface`` 0: faces from ~16 px of the working image; ``cnn``/``hog`` 1: ~40 px).
    upsample: int | None = None
    #: Largest accepted encoded image, in bytes.
    max_bytes: int = 50 * 1024 * 1024
    #: Largest accepted image, in pixels (width x height); checked from the header before decoding.
    max_pixels: int = 40_000_000
    #: Detection runs on the photo reduced so that its longer side is at most this many pixels
    #: (0 = never reduced; empty: the detector's own working size, ``blazeface`` 1280, ``cnn`` and
    #: ``hog`` 2000). Larger finds smaller faces in big photos, at a cost growing with its square.
    detect_max_side: int | None = None
    #: Re-run the 5-point predictor from the box fitted to its own mean shape until that box
    #: settles (any detector). Off by default: measured on LFW it costs 0.2-0.3 points of accuracy
    #: against dlib's own boxes (docs/models.md); kept for boxes that are far from dlib's kind.
    refine_landmarks: bool = False
    #: Average each face's embedding with that of its mirror image (model id ``+mirror``, its own
    #: calibration table; never compared with plain templates). Empty (the default): the
    #: recogniser's own default — on for dlib's ResNet (+2.7 points of 1:N rank-1 for one more
    #: embedder pass per face), off for SFace (+0.2, not worth twice the embedding;
    #: docs/identification.md) — except in a store of templates, which keeps their kind.
    mirror: bool | None = None
    #: The gallery store: a SQLite file path (empty: ``$XDG_DATA_HOME/faceprint/faceprint.db``).
    store: str = ""
    #: Where the gallery's protected vectors are searched: empty for the in-memory index (faiss, a
    #: cache in each process), or a Milvus server, ``milvus://HOST:PORT`` (``?index=HNSW``, the
    #: default, ``IVF_SQ8`` or ``FLAT``), shared by every replica of a PostgreSQL store (the
    #: ``milvus`` extra; docs/scale.md says when).
    vectors: str = ""
    #: The key file that encrypts and protects the store's templates (empty: ``<store>.key``
    #: beside the database). Keep it on another volume or a secrets mount; without it the
    #: templates cannot be read.
    key_file: str = ""
    #: Seal each gallery subject's templates, and each photo-library face, under a data key of its
    #: own, destroyed by erasure (crypto-shredding: copies in backups, WAL and replicas become
    #: unreadable). On by default; off seals new subjects and faces under the storage key as before
    #: schema 4 (for comparison only).
    subject_keys: bool = True
    #: 1:N: when two or more subjects pass a search, order them by similarity less half their
    #: crowding (the mean similarity of their template to its 20 nearest other subjects), from 500
    #: eligible subjects on. Who is named is unchanged; +1 point of rank-1 with 4,000 distractors
    #: (docs/identification.md). Off: by raw similarity, as before.
    crowding: bool = True
    #: Retention: a subject not enrolled or matched for this many days is erased by the retention
    #: sweep and no longer matched (0 = no idle limit). Default: 3 years (Illinois BIPA).
    max_idle_days: int = 1095
    #: Who is responsible for the processing, named in ``faceprint record``.
    controller: str = ""
    #: HTTP service: requests per minute allowed to each API key (bursts of a tenth of it); 0 = no limit.
    rate_limit: int = 600
    #: HTTP service: run the retention sweep at start and then every this many minutes (0 = never).
    sweep_minutes: int = 60
    #: Inference backend: ``onnx`` (dlib's networks converted to ONNX, run by onnxruntime; landmarks
    #: and alignment in numpy) or ``dlib`` (dlib's own wheel; an optional dependency).
    backend: str = "onnx"
    #: onnxruntime intra-op threads per model; 0 = one per core.
    threads: int = 0
    #: Where converted models are cached ("" = ``$XDG_CACHE_HOME/faceprint`` or ``~/.cache/faceprint``).
    cache_dir: str = ""
    #: The recogniser: a shipped one (``sface``, ``resnet``: dlib's ResNet) or the name of an
    #: operator's ONNX model registered with ``faceprint models add`` (docs/models.md). Empty (the
    #: default): ``sface``; ``resnet`` in a store of its templates (made before SFace was the
    #: default, which keeps them) and on the ``dlib`` backend.
    recogniser: str = ""
    #: Where operator models are registered ("" = ``$XDG_DATA_HOME/faceprint/models``).
    models_dir: str = ""
    #: HTTP service: the folders the photo library routes may index (and so read photos from),
    #: separated by ``os.pathsep``; empty = none (``faceprint serve --library FOLDER`` sets it).
    library_roots: str = ""

    def __post_init__(self) -> None:
        if self.detector not in detector_names():
            raise InvalidInput(
                f"unknown detector {self.detector!r}; choose one of: {', '.join(detector_names())}"
            )
        if self.backend not in BACKENDS:
            raise InvalidInput(f"unknown backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}")
        if self.threads < 0:
            raise InvalidInput("threads must not be negative")
        if self.upsample is not None and not 0 <= self.upsample <= 4:
            raise InvalidInput(f"upsample must be between 0 and 4, not {self.upsample}")
        for name in ("max_bytes", "max_pixels"):
            if getattr(self, name) <= 0:
                raise InvalidInput(f"{name} must be positive")
        if self.max_idle_days < 0:
            raise InvalidInput("max_idle_days must not be negative")
        if self.sweep_minutes < 0:
            raise InvalidInput("sweep_minutes must not be negative")
        if self.rate_limit < 0:
            raise InvalidInput("rate_limit must not be negative")
        if self.detect_max_side is not None and self.detect_max_side < 0:
            raise InvalidInput("detect_max_side must not be negative")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``FACEPRINT_*`` variables, then ``overrides`` (``None`` values ignored)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(_ENV_PREFIX + field.name.upper())
            if raw is None or raw == "":
                continue
            if field.type in ("bool", bool, "bool | None"):
                flag = raw.strip().lower()
                if flag not in _BOOLEANS:
                    raise InvalidInput(
                        f"{_ENV_PREFIX}{field.name.upper()} must be 1/0, true/false or yes/no, not {raw!r}"
                    )
                values[field.name] = _BOOLEANS[flag]
            elif field.type in ("int", int, "int | None"):
                try:
                    values[field.name] = int(raw)
                except ValueError:
                    raise InvalidInput(
                        f"{_ENV_PREFIX}{field.name.upper()} must be an integer, not {raw!r}"
                    ) from None
            else:
                values[field.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InvalidInput(f"unknown settings: {sorted(unknown)}")
        return cls(**values)  # type: ignore[arg-type]

    def following(self, models: Iterable[str]) -> Settings:
        """These settings with ``mirror`` and the recogniser decided, following templates already
        made (``models``).

        An explicit ``mirror`` stays; else plain templates on record keep the store plain, mirrored
        ones keep it mirrored, and with none on record the recogniser's own default holds. An unset
        recogniser stays unset (the default) unless every template on record is dlib's ResNet's:
        such a store keeps making them (``resnet``).
        """
        recorded = set(models)
        settings = self
        if not self.recogniser and recorded and all(m.split("+")[0] == DLIB_MODEL_ID for m in recorded):
            settings = dataclasses.replace(settings, recogniser="resnet")
        if self.mirror is not None or not recorded:
            return settings
        return dataclasses.replace(settings, mirror=any(m.endswith(MIRROR_SUFFIX) for m in recorded))
