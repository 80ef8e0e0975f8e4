"""The one worker pool: ``spawn`` processes, each building its state (an engine, a store) once.

Used by the service (inference verbs), photo libraries (analysis) and the benchmark protocols
(LFW embedding, 1:N face finding). ``workers=0`` runs every task in the calling process (small
jobs, tests: no process start-up, no pickling). A crashed worker (killed, out of memory) breaks
the whole executor: the task that saw it raises :class:`~faceprint.errors.ModelError` and the
pool starts fresh workers for the next one. With several workers each runs onnxruntime with one
thread unless :attr:`Settings.threads` says otherwise: the processes are the parallelism, and N
workers with one thread per core each would fight over the cores.

A task is a module-level function ``fn(state, *args)``; ``setup(*args)`` builds the state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

from .config import Settings
from .errors import ModelError

__all__ = ["WorkerPool", "one_thread_each"]

S = TypeVar("S")
T = TypeVar("T")


def one_thread_each(settings: Settings, processes: int) -> Settings:
    """``settings`` for one of ``processes`` workers: one onnxruntime thread each when several
    processes share the cores (unless :attr:`Settings.threads` is set); a single worker, or the
    calling process, keeps one thread per core."""
    if processes > 1 and settings.threads == 0:
        return dataclasses.replace(settings, threads=1)
    return settings


# -- inside a worker process (its state, built once by the initializer) --------------------------

_state: Any = None


def _init(setup: Callable[..., Any], args: tuple[Any, ...]) -> None:
    global _state
    _state = setup(*args)


def _run(fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    return fn(_state, *args)


class _InProcess(Executor):
    """``workers=0``: the same interface, each task run at submit time in this process."""

    def __init__(self, setup: Callable[..., Any], args: tuple[Any, ...], state: Any = None) -> None:
        self._setup, self._args, self._state = setup, args, state
        self._lock = threading.Lock()

    def state(self) -> Any:
        with self._lock:
            if self._state is None:
                self._state = self._setup(*self._args)
            return self._state

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        """``submit(_run, task, task_args)``: ``task(state, *task_args)`` now."""
        future: Future[Any] = Future()
        try:
            task, task_args = args
            future.set_result(task(self.state(), *task_args))
        except BaseException as exc:  # delivered through the future, like a process pool's
            future.set_exception(exc)
        return future


class WorkerPool(Generic[S]):
    """``workers`` processes with the state ``setup(*args)`` each (0: in this process; ``state``,
    when given, is that in-process state instead of building one)."""

    def __init__(
        self,
        setup: Callable[..., S],
        args: tuple[Any, ...],
        workers: int,
        *,
        state: S | None = None,
        died: str = "a worker died",
    ) -> None:
        if workers < 0:
            raise ValueError("workers must not be negative")
        self.workers = workers
        self._setup, self._args, self._died = setup, args, died
        self._lock = threading.Lock()
        self._in_process = _InProcess(setup, args, state) if workers == 0 else None
        self._executor: Executor = self._in_process or self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(self._setup, self._args),
        )

    def _replace(self, executor: Executor) -> None:
        with self._lock:
            if self._executor is executor:  # replace it once, whoever saw it first
                self._executor = self._start()
        executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(state, *args)`` in a worker."""
        return self._executor.submit(_run, fn, args)

    def result(self, future: Future[T], executor: Executor | None = None) -> T:
        """``future``'s result; a dead worker raises :class:`ModelError` and the pool is restarted."""
        try:
            return future.result()
        except BrokenProcessPool as exc:
            self._replace(executor or self._executor)
            raise ModelError(f"{self._died} ({exc})") from None

    def map(self, fn: Callable[..., T], items: Iterable[Any], *, window: int = 0) -> Iterator[T]:
        """``fn(state, item)`` for each item, results in order, at most ``window`` tasks queued
        ahead (default: twice the workers)."""
        executor = self._executor
        ahead = window or max(2 * self.workers, 1)
        pending: list[Future[T]] = []
        for item in items:
            pending.append(executor.submit(_run, fn, (item,)))
            if len(pending) >= ahead:
                yield self.result(pending.pop(0), executor)
        for future in pending:
            yield self.result(future, executor)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(state, *args)`` in a worker, awaited (the service's verbs)."""
        executor = self._executor
        try:
            return await asyncio.wrap_future(executor.submit(_run, fn, args))
        except BrokenProcessPool:
            self._replace(executor)
            raise ModelError(f"{self._died}; it was restarted, try again") from None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> WorkerPool[S]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
