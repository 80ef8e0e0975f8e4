"""Clustering of a photo :class:`~faceprint.library.library.Library`'s faces into people,
incrementally, keeping every correction (:mod:`faceprint.cluster` does the grouping)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..cluster import UNASSIGNED, ClusterParams, cluster_faces
from .face_keys import open_faces
from .mixin import LibraryPart
from .records import ClusterReport

__all__ = ["Clustering"]


class Clustering(LibraryPart):
    """``cluster`` over the library's tables (mixed into :class:`Library`)."""

    # -- clustering ----------------------------------------------------------------------------

    def _model(self) -> str:
        return self.store.engine.model_id

    def _params(self) -> ClusterParams:
        return ClusterParams.from_calibration(self.store.engine.calibration)

    def cluster(self, *, params: ClusterParams | None = None) -> ClusterReport:
        """Group the faces into people, incrementally: faces no run has seen link to each other and
        to everyone; existing people only grow (or merge when a link and the gates allow it).
        Corrections stay: confirmed people are never merged with each other, a face declared not a
        person never joins them, two faces of one photo are never one person."""
        start = time.perf_counter()
        params = params or self._params()
        model = self._model()
        protector = self.store.protector

        def work(conn: Any) -> ClusterReport:
            rows = conn.execute(
                "SELECT f.id, f.photo_id, f.reasons, f.person_id, f.clustered, f.vector, k.wrapped FROM faces f "
                "LEFT JOIN face_keys k ON k.face_id = f.id WHERE f.model_id = ? ORDER BY f.id",
                (model,),
            ).fetchall()
            if not rows:
                return ClusterReport(0, 0, 0, self._count_people(conn), 0, 0, 0, time.perf_counter() - start)
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            position = {int(f): i for i, f in enumerate(ids)}
            vectors = open_faces(protector, [(r[0], r[5], r[6]) for r in rows])
            photos = np.array([r[1] for r in rows], dtype=np.int64)
            seeds = np.array([r[2] == "" for r in rows])
            labels = np.array([UNASSIGNED if r[3] is None else r[3] for r in rows], dtype=np.int64)
            new = np.array([r[4] == 0 for r in rows])
            forbid = [
                (position[int(f)], int(p))
                for f, p in conn.execute("SELECT face_id, person_id FROM face_not_person")
                if int(f) in position
            ]
            pinned = [int(r[0]) for r in conn.execute("SELECT id FROM people WHERE pinned = 1")]
            result = cluster_faces(
                vectors.astype(np.float32),
                photos,
                params=params,
                seeds=seeds,
                labels=labels,
                new=new,
                forbid=forbid,
                pinned=pinned,
            )
            out = result.labels
            # merged people: their faces and corrections move to the person they joined
            for old, keep in result.merged.items():
                self._move_person(conn, old, keep)
            # new people get rows; the labels >= first_new are placeholders
            fresh: dict[int, int] = {}
            now = self._now()
            for lab in sorted({int(v) for v in out if v >= result.first_new}):
                cur = conn.execute("INSERT INTO people (created_at) VALUES (?) RETURNING id", (now,))
                fresh[lab] = int(cur.fetchone()[0])
            assigned = 0
            updates: list[tuple[int | None, int]] = []
            for i, lab in enumerate(out):
                target = fresh.get(int(lab), int(lab)) if lab != UNASSIGNED else None
                before = (
                    None if labels[i] == UNASSIGNED else result.merged.get(int(labels[i]), int(labels[i]))
                )
                if target != before:
                    updates.append((target, int(ids[i])))
                    assigned += int(target is not None)
            conn.executemany("UPDATE faces SET person_id = ? WHERE id = ?", updates)
            conn.execute("UPDATE faces SET clustered = 1 WHERE clustered = 0 AND model_id = ?", (model,))
            self._drop_empty_people(conn)
            people = self._count_people(conn)
            report = ClusterReport(
                faces=len(ids),
                new_faces=int(new.sum()),
                assigned=assigned,
                people=people,
                new_people=len(fresh),
                merged=len(result.merged),
                unassigned=int(np.sum(out == UNASSIGNED)),
                seconds=time.perf_counter() - start,
            )
            self._audit(
                conn, "library-cluster", assigned, f"{len(fresh)} new people, {len(result.merged)} merged"
            )
            return report

        report: ClusterReport = self._db.transact(work)  # run again after a transient failure (PostgreSQL)
        return report

    @staticmethod
    def _count_people(conn: Any) -> int:
        return int(conn.execute("SELECT COUNT(*) FROM people").fetchone()[0])

    def _move_person(self, conn: Any, old: int, keep: int) -> None:
        """Every face and correction of person ``old`` to ``keep``; ``old`` is deleted (its name kept)."""
        conn.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", (keep, old))
        conn.execute(
            "DELETE FROM face_not_person WHERE person_id = ? AND face_id IN "
            "(SELECT face_id FROM face_not_person WHERE person_id = ?)",
            (old, keep),
        )
        conn.execute("UPDATE face_not_person SET person_id = ? WHERE person_id = ?", (keep, old))
        row = conn.execute("SELECT name, pinned FROM people WHERE id = ?", (old,)).fetchone()
        conn.execute("DELETE FROM people WHERE id = ?", (old,))
        if row is not None:
            name, pinned = row
            if name is not None:
                conn.execute("UPDATE people SET name = ? WHERE id = ? AND name IS NULL", (name, keep))
            if pinned:
                conn.execute("UPDATE people SET pinned = 1 WHERE id = ?", (keep,))
