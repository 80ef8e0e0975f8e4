"""The photo library's indexing job: index a folder then group the faces into people, in a thread.

One job at a time per library (a second one is refused while the first runs). Progress is the
files settled so far out of the files found; a cancel request stops the run at the next file
(photos already written stay: an index run is resumable) and skips the clustering. The job's
record names no path: only counts, the state and an error code reach the status route.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ..errors import FaceprintError, InvalidInput
from ..library import Library

__all__ = ["IndexJob", "IndexJobs", "JobBusy"]

log = logging.getLogger("faceprint.service")
State = Literal["running", "done", "failed", "cancelled"]


class JobBusy(InvalidInput):
    """An index job is already running on this library."""

    code = "job_running"


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class IndexJob:
    """One indexing job's state as the status route shows it."""

    id: int
    state: State
    phase: Literal["indexing", "clustering", "finished"]
    total: int | None  # files found (None until the folder is walked)
    done: int
    started_at: float
    finished_at: float | None = None
    indexed: int | None = None  # photos analysed by the run (once it finished)
    faces: int | None = None
    failed: int | None = None
    people: int | None = None
    error: str | None = None  # an error code, never a message with a path

    def to_json(self) -> dict[str, Any]:
        end = self.finished_at or time.time()
        return {
            "id": self.id,
            "state": self.state,
            "phase": self.phase,
            "total": self.total,
            "done": self.done,
            "seconds": round(end - self.started_at, 3),
            "indexed": self.indexed,
            "faces": self.faces,
            "failed": self.failed,
            "people": self.people,
            "error": self.error,
        }


class IndexJobs:
    """The jobs of one library: start one, see the latest, cancel the running one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: IndexJob | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = 1

    @property
    def latest(self) -> IndexJob | None:
        with self._lock:
            return self._job

    def start(
        self,
        library: Callable[[], Library],
        folder: Path,
        *,
        workers: int | None,
        done: Callable[[], None] = lambda: None,
    ) -> IndexJob:
        """Start indexing ``folder`` with the library ``library()`` gives, in a thread; ``done()``
        is called when it finished well."""
        with self._lock:
            if self._job is not None and self._job.state == "running":
                raise JobBusy(f"index job {self._job.id} is still running; wait for it or cancel it")
            job = IndexJob(self._next, "running", "indexing", None, 0, time.time())
            self._next += 1
            self._job = job
            self._cancel = threading.Event()
            cancel = self._cancel
        thread = threading.Thread(
            target=self._run,
            args=(job.id, library, folder, workers, cancel, done),
            daemon=True,
            name="index-job",
        )
        self._thread = thread
        thread.start()
        return job

    def cancel(self) -> IndexJob | None:
        """Ask the running job to stop; the latest job (None if there was none)."""
        with self._lock:
            if self._job is not None and self._job.state == "running":
                self._cancel.set()
            return self._job

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _update(self, job_id: int, **changes: Any) -> None:
        with self._lock:
            if self._job is not None and self._job.id == job_id:
                self._job = replace(self._job, **changes)

    def _run(
        self,
        job_id: int,
        library: Callable[[], Library],
        folder: Path,
        workers: int | None,
        cancel: threading.Event,
        done_hook: Callable[[], None],
    ) -> None:
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            if cancel.is_set():
                raise _Cancelled
            done += n
            self._update(job_id, done=done)

        try:
            lib = library()
            report = lib.index(
                folder, workers=workers, progress=progress, set_total=lambda n: self._update(job_id, total=n)
            )
            if cancel.is_set():
                raise _Cancelled
            self._update(
                job_id,
                phase="clustering",
                indexed=report.indexed,
                faces=report.faces,
                failed=len(report.failures),
            )
            clustered = lib.cluster()
            self._update(
                job_id, state="done", phase="finished", people=clustered.people, finished_at=time.time()
            )
            done_hook()
        except _Cancelled:
            self._update(job_id, state="cancelled", phase="finished", finished_at=time.time())
        except FaceprintError as exc:
            log.warning("index job %d failed: %s", job_id, exc.code)
            self._update(job_id, state="failed", phase="finished", error=exc.code, finished_at=time.time())
        except Exception as exc:  # a thread has no one to raise to: record it, never lose it
            log.error("index job %d failed: %s", job_id, type(exc).__name__)
            self._update(job_id, state="failed", phase="finished", error="internal", finished_at=time.time())
