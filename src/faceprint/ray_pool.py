"""The worker pool on a Ray cluster: :class:`~faceprint.workers.WorkerPool`'s interface over Ray actors.

``faceprint index DIR --ray HOST:PORT`` (the ``faceprint[ray]`` extra) analyses photos on a Ray
cluster's workers instead of local processes; everything else stays in the calling process, which
remains the only writer of the store (so resuming and kill-safety are the local pool's).

- **One actor per CPU** (``num_cpus=1``, spread over the nodes), each building its state once
  (``setup(*args)``: an engine) and running tasks ``fn(state, *args)`` one at a time. Tasks go to
  the actor with the fewest in flight.
- **Futures**: :meth:`RayPool.submit` returns a :class:`concurrent.futures.Future`, as the local
  pool does, resolved from Ray's own future of the task.
- **Errors as values**: a task's :class:`~faceprint.errors.FaceprintError` (an unreadable photo)
  is returned by the actor, not raised there, and raised again in the parent: Ray never logs it
  (its message holds the photo's path), and the caller gets the same typed error as locally. A
  dead actor (killed, out of memory) is restarted by Ray (:data:`RESTARTS` times) and its tasks,
  the one it was running included, run again on it (:data:`RETRIES` times); past that they fail
  with :class:`~faceprint.errors.ModelError` and an actor out of restarts gets no more tasks.
- **Quiet and local**: no dashboard, no usage statistics, the cluster's worker output is not
  forwarded to this process (``log_to_driver=False``), Ray's own messages only from WARNING up.
  ``import faceprint`` never imports Ray: :func:`connect` does, on first use.

An unreachable address is :class:`~faceprint.errors.ClusterUnavailable` after a plain TCP check of
a few seconds (``ray.init`` itself would retry for minutes).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import ClusterUnavailable, FaceprintError, InvalidInput, ModelError

__all__ = ["NodeShare", "RayPool", "connect", "parse_address"]

S = TypeVar("S")
T = TypeVar("T")

#: Seconds the TCP check of the head's address waits before the cluster counts as unreachable.
CONNECT_TIMEOUT = 5.0
#: How often Ray restarts a dead actor, and runs again a task whose actor died under it.
RESTARTS, RETRIES = 4, 2
_TOKEN_HINT = "; a cluster with token authentication needs RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH"

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_connected: str | None = None  # the address this process's Ray driver is connected to


@dataclass(frozen=True)
class NodeShare:
    """How many tasks one Ray node ran: its node id, its address and the count."""

    node: str
    address: str
    tasks: int

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "address": self.address, "tasks": self.tasks}


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` of a Ray cluster's head (its GCS), as ``ray start --head`` prints it."""
    host, sep, port = (address or "").strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in host:
        raise InvalidInput(f"a Ray address is HOST:PORT (the head's, e.g. 127.0.0.2:6379), not {address!r}")
    return host.strip("[]"), int(port)


def _ray() -> Any:
    """The ``ray`` module; :class:`~faceprint.errors.MissingExtra` when the extra is missing."""
    from .extras import import_extra

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before Ray is imported
    return import_extra("ray", "ray", "--ray")


def connect(address: str) -> Any:
    """Connect this process to the Ray cluster at ``address`` (once; again only for another
    address) and return the ``ray`` module."""
    global _connected
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterUnavailable(f"no Ray cluster answers at {address} ({reason})") from None
    ray = _ray()
    with _lock:
        if ray.is_initialized() and _connected == address:
            return ray
        if ray.is_initialized():
            ray.shutdown()
        _withhold_pushed_errors()
        try:
            ray.init(
                address=f"{host}:{port}",
                logging_level=logging.WARNING,
                log_to_driver=False,
                include_dashboard=False,
                namespace="faceprint",
            )
        except Exception as exc:  # Ray's own errors (ConnectionError, RuntimeError, ...)
            hint = "" if os.environ.get("RAY_AUTH_MODE") == "token" else _TOKEN_HINT
            raise ClusterUnavailable(
                f"cannot join the Ray cluster at {address} ({type(exc).__name__}){hint}"
            ) from None
        _connected = address
    return ray


def _withhold_pushed_errors() -> None:
    """Ray 2.60's driver prints the errors raylets push to it (a dead worker's, ...) on *stdout*
    (``ray._private.worker.print_to_stdstream``), which would corrupt ``--json`` and show Ray's
    multi-line diagnostics as ours. The photo is run again (or reported as ``model_error``); Ray's
    text stays in the node's logs. Only the name the listener thread calls is replaced."""
    module = importlib.import_module("ray._private.worker")
    if hasattr(module, "print_to_stdstream"):
        setattr(module, "print_to_stdstream", _withheld)  # noqa: B010 (a module typed without it)


def _withheld(data: dict[str, Any], **_: Any) -> None:
    _log.info("withheld %d line(s) Ray pushed to this driver", len(data.get("lines", ())))


class _Worker:
    """The actor: ``setup(*args)`` once, then ``fn(state, *args)`` per task, errors as values."""

    def __init__(self, setup: Callable[..., Any], args: tuple[Any, ...]) -> None:
        import ray

        self.node = str(ray.get_runtime_context().get_node_id())
        self.error: FaceprintError | None = None
        try:
            self.state = setup(*args)
        except FaceprintError as exc:  # e.g. a model that does not load: every task says so
            self.state, self.error = None, exc

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, bool, Any]:
        """``(node id, ok, value or error)``."""
        if self.error is not None:
            return self.node, False, self.error
        try:
            return self.node, True, fn(self.state, *args)
        except FaceprintError as exc:
            return self.node, False, exc


class RayPool(Generic[S]):
    """``workers`` Ray actors (default: one per CPU of the cluster at ``address``, but no more than
    ``at_most`` when given: the tasks there are) with the state ``setup(*args)`` each; the
    interface of :class:`faceprint.workers.WorkerPool` that callers use (``workers``,
    ``submit``, ``result``, ``close``)."""

    def __init__(
        self,
        address: str,
        setup: Callable[..., S],
        args: tuple[Any, ...],
        workers: int | None = None,
        *,
        at_most: int = 0,
        died: str = "a Ray worker died",
    ) -> None:
        ray = connect(address)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise ClusterUnavailable(f"the Ray cluster at {address} offers no CPU")
        self.workers = workers if workers else min(cpus, at_most) if at_most > 0 else cpus
        self._ray, self._died = ray, died
        self._addresses = {str(n["NodeID"]): str(n["NodeManagerAddress"]) for n in ray.nodes() if n["Alive"]}
        actor = ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RETRIES)(_Worker)
        self._actors = [
            actor.options(scheduling_strategy="SPREAD").remote(setup, args) for _ in range(self.workers)
        ]
        self._busy = [0] * self.workers
        self._dead: set[int] = set()  # actors out of restarts: given no more tasks
        self._served: Counter[str] = Counter()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(state, *args)`` on the actor with the fewest tasks in flight."""
        outer: Future[T] = Future()
        with self._lock:
            live = [k for k in range(self.workers) if k not in self._dead]
            if not live:
                outer.set_exception(ModelError(f"{self._died}: every Ray worker of this run is gone"))
                return outer
            i = min(live, key=self._busy.__getitem__)
            self._busy[i] += 1
        try:
            inner = self._actors[i].run.remote(fn, args).future()
        except Exception as exc:  # the cluster went away: this task fails, the caller goes on
            with self._lock:
                self._busy[i] -= 1
            outer.set_exception(ModelError(f"{self._died} ({type(exc).__name__})"))
            return outer
        inner.add_done_callback(lambda done: self._settle(i, done, outer))
        return outer

    def _settle(self, i: int, done: Future[Any], outer: Future[T]) -> None:
        with self._lock:
            self._busy[i] -= 1
        try:
            node, ok, value = done.result()
        except Exception as exc:  # the actor died, or fn raised something not faceprint's
            if type(exc).__name__ == "ActorDiedError":  # for good (restarts used up)
                with self._lock:
                    self._dead.add(i)
            outer.set_exception(ModelError(f"{self._died} ({type(exc).__name__})"))
            return
        with self._lock:
            self._served[node] += 1
        if ok:
            outer.set_result(value)
        else:
            outer.set_exception(value)

    def result(self, future: Future[T]) -> T:
        """``future``'s result, or its typed error."""
        return future.result()

    def nodes(self) -> tuple[NodeShare, ...]:
        """The tasks each node ran so far, most first."""
        with self._lock:
            served = self._served.most_common()
        return tuple(NodeShare(node, self._addresses.get(node, "?"), n) for node, n in served)

    def close(self) -> None:
        """End the actors (this process stays connected to the cluster for the next pool)."""
        for actor in self._actors:
            with contextlib.suppress(Exception):  # already gone with its node
                self._ray.kill(actor)
        self._actors = []

    def __enter__(self) -> RayPool[S]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
