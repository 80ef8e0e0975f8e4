"""Gallery crowding: how close a subject's template sits to other eligible subjects' templates.

Some templates sit in a dense part of the space and collect other people's probes ("hubs"). When
several subjects pass a search's decision, they are ranked by ``similarity - crowding / 2``, where
a template's crowding is the mean best similarity of the :data:`K` nearest other subjects eligible
for the same purpose (the CSLS correction of hubness, Lample et al. 2018, gallery side). Measured
in docs/identification.md: closed-set rank-1 0.873 -> 0.884 on composed photos, 0.894 -> 0.903 on
LFW crops, with 4,000 single-photo distractors.

It applies from :data:`MIN_SUBJECTS` eligible subjects on, and only reorders subjects that already
passed the calibrated decision: who gets a name at all — so the share of strangers named (FPIR) —
is what the calibration says. Crowding is computed at
search time from the index, only when two or more subjects pass: it is always current, an erased
subject leaves every crowding at once, a stranger's search (nobody passes) costs nothing more, and
templates of subjects outside the purpose never take part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .consent import ACTIVE
from .database import Database
from .masked_copies import BARE_ONLY
from .vector_search import VectorSearch

__all__ = ["MIN_SUBJECTS", "RERANKED", "K", "best_by_owner", "crowding", "eligible_owners"]

#: Neighbours (other subjects) whose similarities make a template's crowding.
K = 20
#: Subjects passing the decision that are reordered by crowding (the best by raw similarity).
RERANKED = 8
#: Eligible subjects a search needs before crowding reorders its answers: in smaller galleries
#: hubs are rare and the correction measured slightly worse (-0.2 to -0.6 points of rank-1 below
#: 200 subjects, +0.1 to +0.3 at 500, +1 from 1,000 on; docs/identification.md).
MIN_SUBJECTS = 500


def eligible_owners(
    db: Database,
    ids: Sequence[int],
    purpose: str,
    active: tuple[str | None, str | None],
    *,
    bare_only: bool = True,
) -> dict[int, str]:
    """Template id -> subject name, for the templates among ``ids`` of subjects eligible for ``purpose``
    (``bare_only``: not masked copies or occluded templates, which only a masked probe's routed
    comparison uses, :mod:`.masked_search`)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    bare = f" AND {BARE_ONLY}" if bare_only else ""
    with db.read() as conn:
        return {
            int(r[0]): str(r[1])
            for r in conn.execute(
                # CROSS JOIN: SQLite must look the few templates up by id first, not walk every
                # subject of the purpose (150 ms at 200,000 subjects); PostgreSQL plans it alike
                f"SELECT t.id, s.name FROM templates t CROSS JOIN subjects s "
                f"WHERE s.id = t.subject_id AND t.id IN ({marks}) AND s.purpose = ? AND {ACTIVE}{bare}",
                (*ids, purpose, *active),
            )
        }


def best_by_owner(
    hits: Iterable[tuple[int, float]], owners: Mapping[int, str]
) -> dict[str, tuple[float, int]]:
    """Subject name -> (best similarity, its template id) among ``hits`` (template id, similarity) of
    templates in ``owners`` (the others are not eligible)."""
    best: dict[str, tuple[float, int]] = {}
    for template_id, sim in hits:
        name = owners.get(template_id)
        if name is not None and (name not in best or sim > best[name][0]):
            best[name] = (sim, template_id)
    return best


def crowding(
    db: Database,
    index: VectorSearch,
    templates: Sequence[int],
    subjects: Sequence[str],
    purpose: str,
    active: tuple[str | None, str | None],
) -> list[float]:
    """The crowding of each template (owned by the same-position subject): see the module doc.

    Fewer than :data:`K` other eligible subjects: the mean over those there are (0.0 for none).
    """
    vectors = index.vectors(np.asarray(templates, dtype=np.int64))
    total = len(index)
    wanted = min(total, 2 * K + 8)
    while True:
        ids, sims = index.search(vectors, wanted)
        owners = eligible_owners(db, [int(i) for i in ids.ravel() if i >= 0], purpose, active)
        near: list[list[float]] = []
        for own, row_ids, row_sims in zip(subjects, ids, sims, strict=True):
            best = best_by_owner(zip(row_ids.tolist(), row_sims.tolist(), strict=True), owners)
            best.pop(own, None)
            near.append(sorted((sim for sim, _ in best.values()), reverse=True)[:K])
        if wanted >= total or all(len(n) >= K for n in near):
            return [float(np.mean(n)) if n else 0.0 for n in near]
        wanted = min(total, wanted * 4)
