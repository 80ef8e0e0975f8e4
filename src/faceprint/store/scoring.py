"""1:N scoring: the vector search's candidates -> the best template per eligible subject -> the
subjects the decision rule names (:mod:`.openset`), best first."""

from __future__ import annotations

import math

from .consent import ACTIVE
from .database import Database
from .openset import Decision, cohort_stats
from .vector_search import FloatArray, VectorSearch

__all__ = ["best_per_subject", "identify"]


def identify(
    db: Database,
    queries: FloatArray,
    purpose: str,
    active: tuple[str | None, str | None],
    top_k: int,
    decision: Decision,
    index: VectorSearch,
) -> list[list[tuple[str, float]]]:
    """Per protected query: up to ``top_k`` (subject, best similarity) that ``decision`` names, best first.

    ``index`` was synced first; ``active`` are :func:`.consent.active_params` for now. The
    cohort-normalised rule needs the best ``k + 1`` eligible subjects whatever they score.
    """
    total = len(index)
    if total == 0:
        return [[] for _ in queries]
    k = decision.k if decision.z is not None else 0
    floor = -math.inf if k else decision.threshold
    answers: list[list[tuple[str, float]]] = []
    for query in queries:
        wanted = min(total, top_k * 4 + 32 + (k + 1 if k else 0))
        while True:
            ids, sims = index.search(query[None, :], wanted)
            hits = [(int(i), float(s)) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0]
            best = best_per_subject(db, hits, purpose, active, floor)
            exhausted = wanted >= total or not hits or hits[-1][1] < floor
            if len(best) >= max(top_k, k + 1) or exhausted:
                break
            wanted = min(total, wanted * 4)
        if k:
            mean, std = cohort_stats([sim for _, sim in best], k)
            best = [(name, sim) for name, sim in best if decision.passes(sim, (sim - mean) / std)]
        answers.append(best[:top_k])
    return answers


def best_per_subject(
    db: Database,
    hits: list[tuple[int, float]],
    purpose: str,
    active: tuple[str | None, str | None],
    threshold: float,
) -> list[tuple[str, float]]:
    """The best similarity per eligible subject among ``hits`` (template id, similarity) at ``threshold``+."""
    passing = [(i, s) for i, s in hits if s >= threshold]
    if not passing:
        return []
    marks = ",".join("?" * len(passing))
    with db.read() as conn:
        owners = {
            int(r[0]): str(r[1])
            for r in conn.execute(
                # CROSS JOIN: SQLite must look the few templates up by id first, not walk every
                # subject of the purpose (150 ms at 200,000 subjects); PostgreSQL plans it alike
                f"SELECT t.id, s.name FROM templates t CROSS JOIN subjects s "
                f"WHERE s.id = t.subject_id AND t.id IN ({marks}) AND s.purpose = ? AND {ACTIVE}",
                (*[i for i, _ in passing], purpose, *active),
            )
        }
    best: dict[str, float] = {}
    for template_id, sim in passing:
        name = owners.get(template_id)
        if name is not None and sim > best.get(name, -2.0):
            best[name] = sim
    return sorted(best.items(), key=lambda item: item[1], reverse=True)
