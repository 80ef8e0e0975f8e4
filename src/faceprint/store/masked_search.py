"""1:N search of a masked-looking probe: the routed rule of :mod:`faceprint.masked_scores`, in the store.

A photo enrolled with masked copies (:func:`faceprint.masked_enrol.masked_samples`) has, besides
its bare template, templates whose ``source`` is the photo's hash plus ``+masked-<style>`` (the
photo with a synthetic mask) or ``+masked-occluded`` (its occluded template,
:mod:`faceprint.occlusion`). They are never compared as bare templates (:data:`.masked_copies.BARE_ONLY`: a bare
search and the crowding skip them; measured, best-template search over copies named 2-4x more
strangers). A probe face the mask test calls masked is scored against each candidate photo three
ways, each at its own calibration table's FMR:

- **bare**: the similarity to the photo's bare template (the model's table);
- **masked**: the mean similarity to the bare template and the masked copies (``+masked`` table);
- **occluded**: the probe's occluded template against the photo's (``+occluded`` table);

and its FMR is the union bound over the comparisons made (their number times the smallest). A
subject's FMR is its best photo's. A subject is named when that FMR is at most the search's
per-comparison bound: the asked ``fmr``, or ``FPIR / N`` (the union bound, never the
cohort-normalised rule, which is calibrated on bare probes: measured on LFW the routed union bound
named fewer masked strangers than the default names bare ones, docs/masks.md).

A gallery without copies routes nothing: when none of a probe's candidates has them, it is
searched as a bare probe (the default, cohort-normalised rule).

Candidates are the owners of the index's nearest templates to the probe's template and to its
occluded template (:data:`CANDIDATES` each): a photo whose masked or occluded score can pass a 1:N
bound sits near the top of one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..masked_scores import MaskedTables, routed
from .consent import ACTIVE
from .crowding import eligible_owners
from .database import Database
from .masked_copies import is_masked_source, is_occluded_source, photo_source
from .vector_search import FloatArray, VectorSearch

__all__ = ["CANDIDATES", "RoutedMatch", "routed_matches"]

#: Nearest templates read from the index per query (probe template, occluded template).
CANDIDATES = 128


@dataclass(frozen=True)
class RoutedMatch:
    """A subject named by the routed rule: its best photo's bare similarity and routed FMR, and
    the comparison that gave the smallest FMR (``bare``, ``masked`` or ``occluded``)."""

    subject: str
    similarity: float
    fmr: float
    comparison: str


@dataclass
class _Photo:
    bare: int | None = None
    copies: list[int] | None = None
    occluded: int | None = None


def routed_matches(
    db: Database,
    index: VectorSearch,
    query: FloatArray,
    occluded: Callable[[], FloatArray | None],
    purpose: str,
    active: tuple[str | None, str | None],
    tables: MaskedTables,
    bound: float,
    top_k: int,
) -> list[RoutedMatch] | None:
    """The subjects a masked-looking probe (protected ``query``; ``occluded`` makes its protected
    occluded template, or None) is named as, best (smallest FMR) first: see the module doc.
    ``None`` when none of the probe's candidates has masked copies or an occluded template
    (nothing to route: the probe is searched as a bare one; ``occluded`` is then not called)."""
    total = len(index)
    if total == 0:
        return None
    photos = _candidates(db, index, query, purpose, active, {})
    if not any(p.copies or p.occluded is not None for p in photos.values()):
        return None
    occluded_query = occluded()
    if occluded_query is not None:
        photos = _candidates(db, index, occluded_query, purpose, active, photos)
    wanted = sorted({i for p in photos.values() for i in _ids(p)})
    vectors = dict(zip(wanted, index.vectors(np.asarray(wanted, dtype=np.int64)), strict=True))
    best: dict[str, RoutedMatch] = {}
    for (subject, _), photo in photos.items():
        match = _score(subject, photo, vectors, query, occluded_query, tables)
        if match is not None and (subject not in best or match.fmr < best[subject].fmr):
            best[subject] = match
    named = [m for m in best.values() if m.fmr <= bound]
    named.sort(key=lambda m: (m.fmr, -m.similarity))
    return named[:top_k]


def _candidates(
    db: Database,
    index: VectorSearch,
    query: FloatArray,
    purpose: str,
    active: tuple[str | None, str | None],
    known: dict[tuple[str, str], _Photo],
) -> dict[tuple[str, str], _Photo]:
    """``known`` and the photos of the eligible owners of the :data:`CANDIDATES` templates nearest ``query``."""
    ids, _ = index.search(query[None, :], min(len(index), CANDIDATES))
    near = [int(i) for i in ids.ravel() if i >= 0]
    subjects = set(eligible_owners(db, near, purpose, active, bare_only=False).values())
    return {**known, **_photos(db, sorted(subjects - {s for s, _ in known}), purpose, active)}


def _ids(photo: _Photo) -> list[int]:
    return [i for i in [photo.bare, photo.occluded, *(photo.copies or [])] if i is not None]


def _photos(
    db: Database, subjects: Sequence[str], purpose: str, active: tuple[str | None, str | None]
) -> dict[tuple[str, str], _Photo]:
    """(subject, photo source) -> its template ids, for the eligible ``subjects``."""
    out: dict[tuple[str, str], _Photo] = {}
    if not subjects:
        return out
    marks = ",".join("?" * len(subjects))
    with db.read() as conn:
        rows = conn.execute(
            f"SELECT t.id, s.name, t.source FROM subjects s JOIN templates t ON t.subject_id = s.id "
            f"WHERE s.name IN ({marks}) AND s.purpose = ? AND {ACTIVE}",
            (*subjects, purpose, *active),
        ).fetchall()
    for template_id, name, source in rows:
        photo = out.setdefault((str(name), photo_source(str(source))), _Photo())
        if is_occluded_source(str(source)):
            photo.occluded = int(template_id)
        elif is_masked_source(str(source)):
            photo.copies = [*(photo.copies or []), int(template_id)]
        else:
            photo.bare = int(template_id)
    return out


def _score(
    subject: str,
    photo: _Photo,
    vectors: dict[int, FloatArray],
    query: FloatArray,
    occluded_query: FloatArray | None,
    tables: MaskedTables,
) -> RoutedMatch | None:
    if photo.bare is None:  # copies without their photo's bare template: not a photo we compare
        return None
    similarity = float(vectors[photo.bare] @ query)
    fmrs = {"bare": tables.plain.fmr(similarity)}
    if photo.copies:
        side = np.stack([vectors[photo.bare], *(vectors[i] for i in photo.copies)])
        fmrs["masked"] = tables.masked.fmr(float((side @ query).mean()))
    if photo.occluded is not None and occluded_query is not None:
        fmrs["occluded"] = tables.occluded.fmr(float(vectors[photo.occluded] @ occluded_query))
    decided = routed(fmrs)
    return RoutedMatch(subject, similarity, decided.fmr, decided.comparison)
