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
- ``routed``: masked copies searched only by probes the mask test calls masked, against the
  masked table's threshold (the plain table for the rest).

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
from faceprint.masked_lfw import MaskedLfw, embed_masked_lfw, gallery_side, masked_impostor_scores
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
    # routed: masked-looking probes search the copies at the masked table's rule; the rest as today
    for name, probes, flags in (
        ("bare probes, routed", data.bare, data.bare_score >= 0.5),
        ("masked probes, routed", data.masked, data.masked_score >= 0.5),
    ):
        fm, fs = flags[m_rows], flags[s_rows]
        plain_m, plain_s = scores(probes[m_rows], bare_g, None), scores(probes[s_rows], bare_g, own)
        copy_m, copy_s = scores(probes[m_rows], copies_g, None), scores(probes[s_rows], copies_g, own)
        # put masked-route scores on the plain scale: the plain similarity with the same FMR
        grid = np.linspace(-1.0, 1.0, 20001)
        on_plain = np.array(
            [plain.threshold(max(min(masked_cal.fmr(v), 0.999), plain.min_fmr)) for v in grid]
        )
        mapped_m = np.where(
            np.isfinite(copy_m), np.interp(np.nan_to_num(copy_m, neginf=-1.0), grid, on_plain), -np.inf
        )
        mapped_s = np.where(
            np.isfinite(copy_s), np.interp(np.nan_to_num(copy_s, neginf=-1.0), grid, on_plain), -np.inf
        )
        s_m = np.where(fm[:, None], mapped_m, plain_m)
        s_s = np.where(fs[:, None], mapped_s, plain_s)
        results[name] = decide(s_m, truth, s_s, plain)
    print(
        f"1:N on LFW's labelled faces: {len(subjects)} subjects, {len(m_rows)} mated, {len(s_rows)} stranger probes"
    )
    print(f"{'':34s} {'rank-1':>7s} {'FNIR@FPIR=0.01':>15s} {'default FPIR':>13s} {'default FNIR':>13s}")
    for name, r in results.items():
        print(
            f"{name:34s} {r['rank1']:7.4f} {r['fnir_at_fpir_0.01']:15.4f} "
            f"{r['default_fpir']:13.4f} {r['default_fnir']:13.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
