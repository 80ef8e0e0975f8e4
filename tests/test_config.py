from __future__ import annotations

import pytest

from faceprint.config import Settings
from faceprint.errors import InvalidInput


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.detector, s.upsample, s.mirror, s.backend, s.threads) == ("blazeface", None, None, "onnx", 0)
    assert (s.detect_max_side, s.refine_landmarks) == (None, False)  # None: the detector's own default


def test_detector_defaults_come_from_the_manifests() -> None:
    import faceprint

    fast, exact = faceprint.Engine(Settings()), faceprint.Engine(Settings(detector="cnn"))
    assert (fast.working_side, fast.upsample) == (1280, 0)
    assert (exact.working_side, exact.upsample) == (2000, 1)
    tuned = faceprint.Engine(
        Settings.from_env({"FACEPRINT_DETECT_MAX_SIDE": "2048", "FACEPRINT_UPSAMPLE": "1"})
    )
    assert (tuned.working_side, tuned.upsample) == (2048, 1)


def test_environment_then_overrides() -> None:
    env = {"FACEPRINT_DETECTOR": "cnn", "FACEPRINT_UPSAMPLE": "2", "FACEPRINT_MAX_PIXELS": "1000"}
    s = Settings.from_env(env)
    assert (s.detector, s.upsample, s.max_pixels) == ("cnn", 2, 1000)
    assert Settings.from_env(env, upsample=0, detector=None).upsample == 0
    assert Settings.from_env(env, detector=None).detector == "cnn"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FACEPRINT_DETECTOR": "yolo"}, "unknown detector"),
        ({"FACEPRINT_UPSAMPLE": "lots"}, "FACEPRINT_UPSAMPLE must be an integer"),
        ({"FACEPRINT_UPSAMPLE": "9"}, "upsample must be between"),
        ({"FACEPRINT_MAX_BYTES": "0"}, "max_bytes must be positive"),
        ({"FACEPRINT_MIRROR": "maybe"}, "FACEPRINT_MIRROR must be 1/0"),
        ({"FACEPRINT_MAX_IDLE_DAYS": "-1"}, "max_idle_days must not be negative"),
        ({"FACEPRINT_SWEEP_MINUTES": "-5"}, "sweep_minutes must not be negative"),
        ({"FACEPRINT_RATE_LIMIT": "-1"}, "rate_limit must not be negative"),
    ],
)
def test_bad_settings_are_typed_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Settings.from_env(env)


def test_unknown_override() -> None:
    with pytest.raises(InvalidInput, match="unknown settings"):
        Settings.from_env({}, colour="blue")


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("off", False)]
)
def test_boolean_settings(raw: str, value: bool) -> None:
    assert Settings.from_env({"FACEPRINT_MIRROR": raw}).mirror is value
