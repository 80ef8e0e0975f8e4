"""1:N scoring: the vector search's candidates -> the best template per eligible subject -> the
subjects the decision rule names (:mod:`.openset`), best first (several: reordered by their
crowding, :mod:`.crowding`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .crowding import MIN_SUBJECTS, RERANKED, best_by_owner, crowding, eligible_owners
from .database import Database
from .openset import Decision, cohort_stats
from .vector_search import FloatArray, VectorSearch

__all__ = ["Candidate", "best_per_subject", "identify"]


@dataclass(frozen=True)
class Candidate:
    """A subject's best template for a probe; ``crowding`` when it was reordered by it."""

    subject: str
    similarity: float
    template: int
    crowding: float | None = None


def identify(
    db: Database,
    queries: FloatArray,
    purpose: str,
    active: tuple[str | None, str | None],
    top_k: int,
    decision: Decision,
    index: VectorSearch,
    *,
    reorder: bool = True,
) -> list[list[Candidate]]:
    """Per protected query: up to ``top_k`` subjects that ``decision`` names, best first.

    ``index`` was synced first; ``active`` are :func:`.consent.active_params` for now. The
    cohort-normalised rule needs the best ``k + 1`` eligible subjects whatever they score. When
    two or more pass (against :data:`.crowding.MIN_SUBJECTS` or more), the best
    :data:`.crowding.RERANKED` of them are ordered by similarity less half their crowding
    (``reorder``, :attr:`Settings.crowding`).
    """
    total = len(index)
    if total == 0:
        return [[] for _ in queries]
    k = decision.k if decision.z is not None else 0
    floor = -math.inf if k else decision.threshold
    answers: list[list[Candidate]] = []
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
            mean, std = cohort_stats([c.similarity for c in best], k)
            best = [c for c in best if decision.passes(c.similarity, (c.similarity - mean) / std)]
        if reorder and decision.eligible >= MIN_SUBJECTS:
            best = _reordered(db, index, best, purpose, active)
        answers.append(best[:top_k])
    return answers


def _reordered(
    db: Database,
    index: VectorSearch,
    passed: list[Candidate],
    purpose: str,
    active: tuple[str | None, str | None],
) -> list[Candidate]:
    if len(passed) < 2:
        return passed
    head, tail = passed[:RERANKED], passed[RERANKED:]
    crowd = crowding(db, index, [c.template for c in head], [c.subject for c in head], purpose, active)
    head = [Candidate(c.subject, c.similarity, c.template, r) for c, r in zip(head, crowd, strict=True)]
    head.sort(key=lambda c: c.similarity - (c.crowding or 0.0) / 2, reverse=True)
    return head + tail


def best_per_subject(
    db: Database,
    hits: list[tuple[int, float]],
    purpose: str,
    active: tuple[str | None, str | None],
    threshold: float,
) -> list[Candidate]:
    """The best template per eligible subject among ``hits`` (template id, similarity) at ``threshold``+."""
    passing = [(i, s) for i, s in hits if s >= threshold]
    owners = eligible_owners(db, [i for i, _ in passing], purpose, active)
    best = best_by_owner(passing, owners)
    found = [Candidate(name, sim, template) for name, (sim, template) in best.items()]
    return sorted(found, key=lambda c: c.similarity, reverse=True)
