"""1:N with masked probes against an unmasked gallery, on LFW's labelled faces.

    python bench/identify_masked_lfw.py ../shared/data/lfw [--cache /tmp/masked-lfw.npz] [--workers N]

The protocol is :func:`faceprint.identification.build_protocol` on LFW's folders (every person's
first photo enrolled, single-photo people as distractors searched leave-one-out, 300 people held
out as strangers, up to 2 probes each). Faces are LFW's labelled ones, found and embedded as in
``faceprint evaluate lfw --masked`` (:func:`faceprint.masked_lfw.embed_masked_lfw`; the same cache
file serves both), so a masked probe is the same photo with a synthetic mask drawn from its own
landmarks. Decided by the store's default rule (FPIR 0.01, cohort-normalised) for:

- ``bare probes``: today's figures on these faces;
- ``masked probes``: the same probes masked, gallery unchanged;
- ``+ masked copies``: the gallery also holds each photo's masked enrolment copies
  (:mod:`faceprint.masked_enrol`), best template per subject, as the store searches today;
- ``routed (raw rule)``: a probe the mask test calls masked is also compared with each subject's
  bare template and masked copies (mean similarity, masked table) and, occluded, with the
  subject's occluded template (occluded table), and accepted on any of the three at three times
  the smallest FMR, decided by the raw rule (per-comparison FMR at most FPIR / N): what
  ``Store.search`` does (:mod:`faceprint.store.masked_search`); the rest as today; ``routed, 2
  comparisons`` leaves the occluded one out (the earlier rule); ``today (raw rule)`` is today's
  comparison on the same scale, for a like-for-like figure.

Prints FNIR at FPIR 0.01 (the rule's family) and the default rule's FPIR and FNIR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.calibrate import Calibration, load_calibration
from faceprint.errors import ModelError
from faceprint.identification import build_protocol, people_folders
from faceprint.masked_lfw import (
    MaskedLfw,
    embed_masked_lfw,
    gallery_side,
    masked_impostor_scores,
    occluded_impostor_scores,
)
from faceprint.store.masked_search import CANDIDATES
from faceprint.store.openset import cohort_stats, decision_rule


def top_z(scores: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    best = -np.sort(-scores, axis=1)[:, : k + 1]
    z = np.full(len(scores), -np.inf)
    for i, row in enumerate(best):
        row = row[np.isfinite(row)]
        if len(row):
            mean, std = cohort_stats(row, k)
            z[i] = (row[0] - mean) / std
    return z


def fnir_at_fpir(
    d_m: NDArray[np.float64], ok: NDArray[np.bool_], d_s: NDArray[np.float64], fpir: float
) -> float:
    finite = np.sort(d_s[np.isfinite(d_s)])[::-1]
    allowed = int(np.floor(fpir * len(d_s)))
    t = float(np.nextafter(finite[allowed], np.inf)) if allowed < len(finite) else -np.inf
    return float(np.mean(~(ok & (d_m >= t))))


def decide(
    s_mated: NDArray[np.float64],
    truth: NDArray[np.int64],
    s_strangers: NDArray[np.float64],
    cal: Calibration,
) -> dict[str, float]:
    """FNIR at FPIR 0.01 of the cohort rule's family, and the default rule's FPIR and FNIR."""
    n = s_mated.shape[1]
    rule = decision_rule(cal, n)
    k = rule.k or 1
    ok = np.argmax(s_mated, axis=1) == truth
    best_m, best_s = s_mated.max(axis=1), s_strangers.max(axis=1)
    z_m, z_s = top_z(s_mated, k), top_z(s_strangers, k)
    zt = -np.inf if rule.z is None else rule.z
    named_m = ok & (best_m >= rule.threshold) & (z_m >= zt)
    named_s = (best_s >= rule.threshold) & (z_s >= zt)
    assert cal.cohort is not None
    floor = cal.threshold(max(cal.cohort.raw_factor * 0.01 / n, cal.min_fmr))
    d_m, d_s = np.where(best_m >= floor, z_m, -np.inf), np.where(best_s >= floor, z_s, -np.inf)
    return {
        "fnir_at_fpir_0.01": fnir_at_fpir(d_m, ok, d_s, 0.01),
        "default_fpir": float(np.mean(named_s)),
        "default_fnir": float(np.mean(~named_m)),
        "rank1": float(np.mean(ok)),
    }


def decide_raw(
    s_mated: NDArray[np.float64], truth: NDArray[np.int64], s_strangers: NDArray[np.float64], threshold: float
) -> dict[str, float]:
    """As :func:`decide` on scores of one scale without the cohort rule: named when best >= threshold."""
    ok = np.argmax(s_mated, axis=1) == truth
    best_m, best_s = s_mated.max(axis=1), s_strangers.max(axis=1)
    return {
        "fnir_at_fpir_0.01": fnir_at_fpir(best_m, ok, best_s, 0.01),
        "default_fpir": float(np.mean(best_s >= threshold)),
        "default_fnir": float(np.mean(~(ok & (best_m >= threshold)))),
        "rank1": float(np.mean(ok)),
    }


def candidate_recall(
    data: MaskedLfw,
    g_rows: NDArray[np.int64],
    probes: NDArray[np.float32],
    occluded: NDArray[np.float32],
    flags: NDArray[np.bool_],
    rows: tuple[NDArray[np.int64], NDArray[np.int64]],
    parts: list[NDArray[np.float64]],
    n: int,
) -> tuple[float, int]:
    """Of the subjects the routed rule names (exhaustively, here) for masked-looking probes, the
    share the store would score: owners of the :data:`CANDIDATES` nearest templates (every
    template the store indexes: bare, copies, occluded) to the probe and to its occluded template."""
    every = np.concatenate(
        [data.bare[g_rows][:, None], data.copies[g_rows], data.occluded_bare[g_rows][:, None]], axis=1
    )
    owner = np.repeat(np.arange(len(g_rows)), every.shape[1])
    flat = every.reshape(-1, every.shape[2])
    hit = total = 0
    for probe_rows, score in zip(rows, parts, strict=True):
        for i, row in enumerate(probe_rows):
            named = np.flatnonzero(score[i] >= -np.log10(0.01 / n))
            if not flags[row] or not named.size:
                continue
            near = set()
            for q in (probes[row], occluded[row]):
                near |= set(owner[np.argsort(-(flat @ q))[:CANDIDATES]].tolist())
            hit += sum(int(s) in near for s in named)
            total += named.size
    return (hit / total if total else 1.0), total


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("lfw", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/masked-lfw.npz"))
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    people = people_folders(args.lfw)
    protocol = build_protocol(people)
    if args.cache.is_file():
        data = MaskedLfw.load(args.cache)
    else:
        files = sorted(f for photos in people.values() for f in photos)
        data = embed_masked_lfw(args.lfw, files, workers=args.workers)
        data.save(args.cache)
    row = {f: i for i, f in enumerate(data.files)}
    subjects = [s for s, _ in protocol.gallery]
    index = {s: i for i, s in enumerate(subjects)}
    g_rows = np.array([row[f] for _, f in protocol.gallery])
    m_rows = np.array([row[f] for _, f in protocol.mated])
    truth = np.array([index[s] for s, _ in protocol.mated])
    s_rows = np.array(
        [row[f] for f in protocol.strangers]
        + [row[f] for s, f in protocol.gallery if s in set(protocol.distractors)]
    )
    own = np.array([-1] * len(protocol.strangers) + [index[s] for s in protocol.distractors])
    plain = load_calibration(data.model)
    try:
        masked_cal = load_calibration(data.model + "+masked")
    except ModelError:
        masked_cal = Calibration.from_scores(masked_impostor_scores(data), model=data.model + "+masked")
        print("masked table: measured on these images (none ships)")
    try:
        occluded_cal = load_calibration(data.model + "+occluded")
    except ModelError:
        occluded_cal = Calibration.from_scores(occluded_impostor_scores(data), model=data.model + "+occluded")
        print("occluded table: measured on these images (none ships)")

    def scores(
        probes: NDArray[np.float32], gallery: NDArray[np.float32], exclude: NDArray[np.int64] | None
    ) -> NDArray[np.float64]:
        s = np.einsum("pd,gtd->pgt", probes, gallery).max(axis=2).astype(np.float64)
        if exclude is not None:
            r = np.flatnonzero(exclude >= 0)
            s[r, exclude[r]] = -np.inf
        return s

    bare_g = data.bare[g_rows][:, None]
    copies_g = gallery_side(data.bare, data.copies)[g_rows]
    results = {}
    for name, probes in (("bare probes", data.bare), ("masked probes", data.masked)):
        results[name] = decide(
            scores(probes[m_rows], bare_g, None), truth, scores(probes[s_rows], bare_g, own), plain
        )
        results[name + " + masked copies"] = decide(
            scores(probes[m_rows], copies_g, None), truth, scores(probes[s_rows], copies_g, own), plain
        )
    # routed: a probe the mask test calls masked is also compared with each subject's bare template
    # and masked copies (the mean of their similarities, at the masked table's FMR) and accepted on
    # either at twice the smaller FMR (faceprint.masked_lfw.routed_scores), decided by the raw rule
    # (per-comparison FMR <= FPIR / N); any other probe as today. Both on one scale, -log10 of the
    # per-comparison FMR, without the cohort rule (it is calibrated on bare scores only); today's
    # comparison on that scale too, for a like-for-like figure.
    n = len(subjects)
    grid = np.linspace(-1.0, 1.0, 40001)
    plain_fmr = np.array([plain.fmr(v) for v in grid])
    masked_fmr = np.array([masked_cal.fmr(v) for v in grid])
    occluded_fmr = np.array([occluded_cal.fmr(v) for v in grid])

    def on_fmr(sim: NDArray[np.float64], table: NDArray[np.float64]) -> NDArray[np.float64]:
        out = -np.log10(np.interp(np.nan_to_num(sim, neginf=-1.0), grid, table))
        return np.where(np.isfinite(sim), out, -np.inf)

    occluded_g = data.occluded_bare[g_rows][:, None]
    for name, probes, occluded, flags in (
        ("bare probes", data.bare, data.occluded_bare, data.bare_score >= 0.5),
        ("masked probes", data.masked, data.occluded_masked, data.masked_score >= 0.5),
    ):
        for route in ("today", "routed, 2 comparisons", "routed"):
            parts = []
            for rows, exclude in ((m_rows, None), (s_rows, own)):
                plain_s = on_fmr(scores(probes[rows], bare_g, exclude), plain_fmr)
                if route != "today":
                    mean_s = np.einsum("pd,gtd->pgt", probes[rows], copies_g).mean(axis=2).astype(np.float64)
                    if exclude is not None:
                        r = np.flatnonzero(exclude >= 0)
                        mean_s[r, exclude[r]] = -np.inf
                    either = np.maximum(on_fmr(mean_s, masked_fmr), plain_s)
                    ways = 2.0
                    if route == "routed":
                        occ_s = on_fmr(scores(occluded[rows], occluded_g, exclude), occluded_fmr)
                        either, ways = np.maximum(either, occ_s), 3.0
                    plain_s = np.where(
                        flags[rows][:, None], either - np.log10(ways), plain_s
                    )  # ways x min FMR
                parts.append(plain_s)
            results[f"{name}, {route} (raw rule)"] = decide_raw(
                parts[0], truth, parts[1], -np.log10(0.01 / n)
            )
            if name == "masked probes" and route == "routed":
                found = candidate_recall(data, g_rows, probes, occluded, flags, (m_rows, s_rows), parts, n)
    print(
        "store candidates (owners of the 128 nearest templates to the probe and to its occluded "
        f"template, masked-looking probes): {found[0]:.4f} of routed names among them ({found[1]} names)"
    )
    print(
        f"1:N on LFW's labelled faces: {len(subjects)} subjects, {len(m_rows)} mated, {len(s_rows)} stranger probes"
    )
    print(f"{'':48s} {'rank-1':>7s} {'FNIR@FPIR=0.01':>15s} {'default FPIR':>13s} {'default FNIR':>13s}")
    for name, r in results.items():
        print(
            f"{name:48s} {r['rank1']:7.4f} {r['fnir_at_fpir_0.01']:15.4f} "
            f"{r['default_fpir']:13.4f} {r['default_fnir']:13.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
