"""1:N search on the gallery: the decision rule for the purpose, the probes' faces scored against
the eligible subjects (:mod:`.scoring`), one audit row per probe, durably, before returning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidInput, StoreError
from ..masked_scores import MaskedTables, masked_tables
from . import consent
from .database import Connection
from .masked_search import routed_matches
from .openset import Decision, decision_rule
from .records import FaceSearch, SearchResult, SubjectMatch, isoformat
from .scoring import Candidate, identify

if TYPE_CHECKING:
    from ..faces import Face
    from .gallery import Probe, Store
    from .vector_search import FloatArray, VectorSearch

__all__ = ["search_many"]


def search_many(
    store: Store,
    probes: Sequence[Probe],
    *,
    purpose: str,
    actor: str | None,
    top_k: int,
    fmr: float | None,
    fpir: float | None,
    all_faces: bool,
) -> list[SearchResult]:
    """:meth:`Store.search_many`: every check before any image work, then the probes, then the audit."""
    purpose = consent.require_purpose(purpose)
    if not 1 <= top_k <= 100:
        raise InvalidInput(f"top_k must be between 1 and 100, not {top_k}")
    model = store.model_id
    calibration = store.calibration_for(model or store.default_model_id(probes))
    # validates fmr / fpir before any image work
    # follows other processes' writes; refused if a model migration switched the store since ``model``
    index = store.search_index(purpose, model) if model is not None else None
    eligible = store.eligible(purpose, index.seq if index is not None else -1)
    decision = decision_rule(calibration, eligible, fmr=fmr, fpir=fpir)
    threshold = decision.threshold
    consent.check_purpose(store.db, purpose)
    answers: list[SearchResult] = []
    for probe in probes:
        faces = store.probe_faces(probe, all_faces=all_faces)
        for face in faces:
            assert face.template is not None
            if model is not None and face.template.model != model:
                raise StoreError(f"this store holds {model} templates; the probe is {face.template.model}")
        found: list[list[Candidate]] = [[] for _ in faces]
        if index is not None:
            queries = np.stack([f.template.vector for f in faces if f.template])
            protected = store.protector.protect(queries)
            found = identify(
                store.db,
                protected,
                purpose,
                store.active_params(),
                top_k,
                decision,
                index,
                reorder=store.settings.crowding,
            )
        named = [
            tuple(
                SubjectMatch(c.subject, c.similarity, calibration.fmr(c.similarity), c.crowding)
                for c in matches
            )
            for matches in found
        ]
        rules: list[str | None] = [None] * len(faces)
        for i, face in enumerate(faces):
            if index is None or face.mask_score is None or not face.masked:
                continue
            tables = masked_tables(calibration)  # read once per process; None: compared as bare
            routed = (
                None
                if tables is None
                else _routed(store, probe, face, index, purpose, tables, decision, top_k)
            )
            if routed is not None:
                named[i], rules[i] = routed
        results = tuple(
            FaceSearch(
                box=face.box if face.box.width > 0 else None,
                matches=matches,
                masked=face.masked if face.mask_score is not None else None,
                rule=rule,
            )
            for face, matches, rule in zip(faces, named, rules, strict=True)
        )
        answers.append(
            SearchResult(
                faces=results,
                fmr=decision.fmr,
                threshold=threshold,
                fpir=decision.fpir,
                rule=decision.rule,
                eligible=decision.eligible,
                model=calibration.model,
                calibration=calibration.source,
            )
        )

    def audit(conn: Connection) -> None:
        now = isoformat(store.now())
        for answer in answers:
            matched = sorted({m.subject for face in answer.faces for m in face.matches})
            if matched:
                marks = ",".join("?" * len(matched))
                conn.execute(f"UPDATE subjects SET last_seen_at = ? WHERE name IN ({marks})", (now, *matched))
            store.write_audit(
                conn,
                actor or store.actor,
                "search",
                purpose,
                matched,
                sum(1 for f in answer.faces if f.matches),
            )

    store.db.transact(audit, feed=False)  # appends nothing to the feed: no need to queue behind writers
    return answers


def _routed(
    store: Store,
    probe: Probe,
    face: Face,
    index: VectorSearch,
    purpose: str,
    tables: MaskedTables,
    decision: Decision,
    top_k: int,
) -> tuple[tuple[SubjectMatch, ...], str] | None:
    """A masked-looking face's matches by the routed rule (:mod:`.masked_search`): at the asked
    ``fmr``, or at the union bound ``FPIR / N`` (never the cohort rule, calibrated on bare probes),
    with the rule in words; ``None`` when its candidates have no masked copies."""
    assert face.template is not None
    if decision.fpir is None:
        bound, why = decision.fmr, f"fmr {decision.fmr:g} per comparison"
    else:
        n = max(1, decision.eligible)
        bound = max(decision.fpir / n, tables.plain.min_fmr)
        why = f"fpir {decision.fpir:g} over {n} subject{'s' if n != 1 else ''}, union bound"
    query = store.protector.protect(face.template.vector[None])[0]

    def occluded() -> FloatArray | None:
        template = store.probe_occluded(probe, face)
        return None if template is None else store.protector.protect(template.vector[None])[0]

    matches = routed_matches(
        store.db, index, query, occluded, purpose, store.active_params(), tables, bound, top_k
    )
    if matches is None:
        return None
    rule = f"masked probe, routed (bare, masked, occluded comparisons): fmr <= {bound:.2g} ({why})"
    return tuple(SubjectMatch(m.subject, m.similarity, m.fmr, None, m.comparison) for m in matches), rule
