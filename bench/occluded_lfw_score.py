"""Score occlusion variants (bench/occluded_lfw_embed.py's output) on the masked LFW protocol.

    .venv/bin/python bench/occluded_lfw_score.py CACHE.npz /tmp/wt3/occ.npz ../shared/data/lfw/pairs.txt

For each variant (each occlusion, with and without mirror averaging where embedded, and each
``--ensemble`` of them) and fusion rule, accuracy (10-fold protocol restricted to the folds named) and
TAR at FAR 1e-3 (pooled) on the development folds 1-5, the held-out folds 6-10 and all 10, for
masked probes and for bare pairs with the mitigation on. Every occluded comparison has its own
table, measured on all cross-identity (occluded bare gallery, occluded masked probe) pairs.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from numpy.typing import NDArray

from faceprint.calibrate import Calibration, load_calibration
from faceprint.evaluate import read_lfw_pairs, tar_at_far, ten_fold_accuracy
from faceprint.masked_lfw import MaskedLfw, gallery_side, masked_comparison

F = NDArray[np.float64]


def unit(x: NDArray[np.float32]) -> NDArray[np.float32]:
    out: NDArray[np.float32] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def impostors(gal: NDArray[np.float32], probe: NDArray[np.float32], labels: NDArray[np.str_]) -> F:
    parts = []
    for s in range(0, len(gal), 1024):
        block = gal[s : s + 1024] @ probe.T
        parts.append(block[labels[s : s + 1024, None] != labels[None, :]])
    return np.concatenate(parts).astype(np.float64)


def fmrs(table: Calibration, scores: F) -> F:
    return np.array([table.fmr(float(s)) for s in scores])


def report(scores: F, same: NDArray[np.bool_], folds: NDArray[np.int64]) -> dict[str, float]:
    out = {}
    for name, keep in (("dev", folds < 5), ("held", folds >= 5), ("all", folds >= 0)):
        acc, _ = ten_fold_accuracy(scores[keep], same[keep], folds[keep])
        tar = tar_at_far(scores[keep & same], scores[keep & ~same], 1e-3)
        out[name] = (round(float(np.mean(acc)), 4), round(tar, 4))
    return out  # type: ignore[return-value]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cache")
    ap.add_argument("occ")
    ap.add_argument("pairs")
    ap.add_argument("--variants", default="", help="only these keys (e.g. 70_upper), comma-separated")
    ap.add_argument(
        "--ensemble", default="", help="mean templates, e.g. 70_upper_0+70_grey_0, comma-separated"
    )
    args = ap.parse_args()
    d = MaskedLfw.load(args.cache)
    z = np.load(args.occ)
    assert list(z["files"]) == list(d.files)
    labels = np.array([f.split("/")[0] for f in d.files])
    pairs = read_lfw_pairs(args.pairs)
    idx = {f: i for i, f in enumerate(d.files)}
    a = np.array([idx[p.a] for p in pairs])
    b = np.array([idx[p.b] for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs], dtype=np.int64)
    plain = load_calibration(d.model)
    masked_t = load_calibration(d.model + "+masked")
    side = gallery_side(d.bare, d.copies)
    flag_m = d.masked_score[b] >= 0.5
    flag_b = d.bare_score[b] >= 0.5
    base = {
        "masked": (np.einsum("ij,ij->i", d.bare[a], d.masked[b]), masked_comparison(side[a], d.masked[b])),
        "bare": (np.einsum("ij,ij->i", d.bare[a], d.bare[b]), masked_comparison(side[a], d.bare[b])),
    }
    f_plain = {k: fmrs(plain, v[0]) for k, v in base.items()}
    f_mask = {k: fmrs(masked_t, v[1]) for k, v in base.items()}
    flags = {"masked": flag_m, "bare": flag_b}
    results = {}
    today = {k: -np.log10(f_plain[k]) for k in base}
    shipped = {}
    for k in base:
        s = today[k].copy()
        s[flags[k]] = -np.log10(np.minimum(1, 2 * np.minimum(f_plain[k], f_mask[k])))[flags[k]]
        shipped[k] = s
    results["today"] = {k: report(today[k], same, folds) for k in base}
    results["shipped"] = {k: report(shipped[k], same, folds) for k in base}
    print(json.dumps(results), flush=True)
    keys = sorted({k[len("bare_") : -2] for k in z.files if k.startswith("bare_")})
    if args.variants:
        keys = [k for k in keys if k in args.variants.split(",")]
    candidates: list[tuple[str, list[str]]] = []
    for key in keys:
        candidates.append((f"{key}_m0", [f"{key}_0"]))
        if f"bare_{key}_1" in z.files:  # mirror averaging: the chip and its mirror image
            candidates.append((f"{key}_m1", [f"{key}_0", f"{key}_1"]))
    for ensemble in filter(None, args.ensemble.split(",")):  # mean template of several occlusions
        candidates.append((ensemble, ensemble.split("+")))
    for name_, parts in candidates:
        gb = unit(sum(unit(z[f"bare_{k}"]) for k in parts))  # type: ignore[arg-type]
        gm = unit(sum(unit(z[f"masked_{k}"]) for k in parts))  # type: ignore[arg-type]
        occ_t = Calibration.from_scores(impostors(gb, gm, labels), model="occ")
        # the mean of the masked comparison and the occluded one, a single similarity
        imp_mix = (impostors(gb, gm, labels) + masked_mix_impostors(side, d.masked, labels)) / 2
        mix_t = Calibration.from_scores(imp_mix, model="mix")
        rules: dict[str, dict[str, object]] = {}
        for k, probe_occ in (("masked", gm[b]), ("bare", gb[b])):
            s_occ = np.einsum("ij,ij->i", gb[a], probe_occ)
            f_occ = fmrs(occ_t, s_occ)
            f_mix = fmrs(mix_t, (s_occ + base[k][1]) / 2)
            fl = flags[k]
            cand = {
                "occ_alone": f_occ,
                "either_plain_occ": np.minimum(1, 2 * np.minimum(f_plain[k], f_occ)),
                "either3": np.minimum(1, 3 * np.minimum(np.minimum(f_plain[k], f_mask[k]), f_occ)),
                "either_plain_mix": np.minimum(1, 2 * np.minimum(f_plain[k], f_mix)),
                "mix_alone": f_mix,
            }
            for name, fm in cand.items():
                s = today[k].copy()
                s[fl] = -np.log10(fm)[fl]
                rules.setdefault(name, {})[k] = report(s, same, folds)
        for name, r in rules.items():
            print(json.dumps({"variant": name_, "rule": name, **r}), flush=True)
    return 0


_MIX: dict[int, F] = {}


def masked_mix_impostors(
    side: NDArray[np.float32], probe: NDArray[np.float32], labels: NDArray[np.str_]
) -> F:
    """The shipped masked comparison's impostors in the same pair order as :func:`impostors`."""
    if 0 not in _MIX:
        parts = []
        for s in range(0, len(side), 512):
            block = np.einsum("ikd,jd->ijk", side[s : s + 512], probe).mean(axis=2)
            parts.append(block[labels[s : s + 512, None] != labels[None, :]])
        _MIX[0] = np.concatenate(parts).astype(np.float64)
    return _MIX[0]


if __name__ == "__main__":
    raise SystemExit(main())
