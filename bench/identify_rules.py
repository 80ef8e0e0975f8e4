"""Decision-rule variants for 1:N on a cached face table of ``bench/identify_lfw.py``.

    python bench/identify_rules.py /tmp/faceprint-1n/faces-composed-faceprint-hog-up1.npz [--tie 0.8]

Same protocol as ``bench/identify_lfw.py`` (all of ``../shared/data/lfw``, seed 0). Prints rank-1
and FNIR at FPIR 0.1/0.01/0.001 (threshold set empirically on the strangers) for: the raw
similarity at several face-choice ties, z-norm against random cohorts, the margin, z
against the next K subjects, a mix, and z over union-bound floors of several looseness (the kept
rule: top 100, floor at 10 x FPIR / N). Numbers in docs/identification.md.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.calibrate import load_calibration
from faceprint.identification import FaceTable, build_protocol, people_folders
from faceprint.identification_rates import fnir_at_fpir

Scores = NDArray[np.float64]
Rule = Callable[[Scores], tuple[Scores, NDArray[np.int64]]]
MASK = -9.0


def matrices(table: FaceTable, lfw: Path, tie: float | None) -> tuple[Scores, NDArray[np.int64], Scores, int]:
    """(mated x gallery scores, true columns, strangers x gallery scores, gallery size)."""
    protocol = build_protocol(people_folders(lfw))
    row = {f: i for i, f in enumerate(table.files)}
    chosen, _ = table.choose(tie=tie)
    dim = table.templates.shape[1]

    def vec(f: str) -> NDArray[np.float32]:
        j = chosen[row[f]]
        return table.templates[j] if j >= 0 else np.zeros(dim, np.float32)

    idx = {s: i for i, (s, _) in enumerate(protocol.gallery)}
    gallery = np.stack([vec(f) for _, f in protocol.gallery])
    enrolled = np.linalg.norm(gallery, axis=1) > 0
    mated = np.stack([vec(f) for _, f in protocol.mated])
    truth = np.array([idx[s] for s, _ in protocol.mated])
    held = [vec(f) for f in protocol.strangers]
    loo = [vec(protocol.gallery[idx[s]][1]) for s in protocol.distractors]
    own = np.array([-1] * len(held) + [idx[s] for s in protocol.distractors])

    def scores(probes: NDArray[np.float32], exclude: NDArray[np.int64]) -> Scores:
        s = (probes @ gallery.T).astype(np.float64)
        s[:, ~enrolled] = MASK
        s[np.linalg.norm(probes, axis=1) == 0] = MASK
        r = np.flatnonzero(exclude >= 0)
        s[r, exclude[r]] = MASK
        return s

    return (
        scores(mated, np.full(len(mated), -1)),
        truth,
        scores(np.stack(held + loo), own),
        int(enrolled.sum()),
    )


def raw(s: Scores) -> tuple[Scores, NDArray[np.int64]]:
    return s.max(1), s.argmax(1)


def top_z(k: int) -> Rule:
    def rule(s: Scores) -> tuple[Scores, NDArray[np.int64]]:
        part = -np.sort(-s, axis=1)[:, : k + 1]
        return (part[:, 0] - part[:, 1:].mean(1)) / (part[:, 1:].std(1) + 1e-6), s.argmax(1)

    return rule


def margin(s: Scores) -> tuple[Scores, NDArray[np.int64]]:
    part = -np.sort(-s, axis=1)[:, :2]
    return part[:, 0] - part[:, 1], s.argmax(1)


def znorm(cohort: NDArray[np.int64]) -> Rule:
    def rule(s: Scores) -> tuple[Scores, NDArray[np.int64]]:
        c = np.where(s[:, cohort] <= MASK, np.nan, s[:, cohort])
        mean, std = np.nanmean(c, 1), np.nanstd(c, 1) + 1e-6
        return (s.max(1) - mean) / std, s.argmax(1)

    return rule


def line(name: str, mated: Scores, ok: NDArray[np.bool_], strangers: Scores) -> str:
    fnir = [fnir_at_fpir(mated, ok, strangers, t) for t in (0.1, 0.01, 0.001)]
    return f"{name:52s} rank-1 {np.mean(ok):.4f}  FNIR@FPIR 0.1 {fnir[0]:.4f}  0.01 {fnir[1]:.4f}  0.001 {fnir[2]:.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("table", type=Path)
    parser.add_argument("--lfw", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/lfw")
    parser.add_argument("--tie", type=float, default=None)
    args = parser.parse_args()
    table = FaceTable.load(args.table)
    for tie in (1.0, 0.8, 0.5, 0.3):
        sm, truth, ss, _ = matrices(table, args.lfw, tie)
        print(line(f"raw similarity, face choice tie {tie}", sm.max(1), sm.argmax(1) == truth, ss.max(1)))
    sm, truth, ss, n = matrices(table, args.lfw, args.tie)
    ok = sm.argmax(1) == truth
    rng = np.random.default_rng(0)
    gallery = np.arange(sm.shape[1])
    rules: list[tuple[str, Rule]] = [("raw similarity", raw), ("margin s1 - s2", margin)]
    rules += [
        (f"z-norm, random cohort of {c}", znorm(rng.choice(gallery, size=c, replace=False)))
        for c in (64, 256, 1024)
    ]
    rules += [(f"z against the next {k} subjects", top_z(k)) for k in (10, 20, 50, 100, 200)]
    for name, rule in rules:
        with warnings.catch_warnings():  # rows without a face: all masked
            warnings.simplefilter("ignore", RuntimeWarning)
            print(line(name, rule(sm)[0], ok, rule(ss)[0]))
    z20m, z20s = top_z(20)(sm)[0], top_z(20)(ss)[0]
    print(line("s1 + 0.005 z (next 20)", sm.max(1) + 0.005 * z20m, ok, ss.max(1) + 0.005 * z20s))
    calibration = load_calibration(table.model)
    zm, zs = top_z(100)(sm)[0], top_z(100)(ss)[0]
    for factor in (30, 10, 5, 3):
        floors = [calibration.threshold(max(factor * t / n, calibration.min_fmr)) for t in (0.1, 0.01, 0.001)]
        fnir = [
            fnir_at_fpir(np.where(sm.max(1) >= f, zm, -np.inf), ok, np.where(ss.max(1) >= f, zs, -np.inf), t)
            for f, t in zip(floors, (0.1, 0.01, 0.001), strict=True)
        ]
        print(
            f"{f'z (next 100) over the floor at {factor} x FPIR / N':52s} rank-1 {np.mean(ok):.4f}  "
            f"FNIR@FPIR 0.1 {fnir[0]:.4f}  0.01 {fnir[1]:.4f}  0.001 {fnir[2]:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
