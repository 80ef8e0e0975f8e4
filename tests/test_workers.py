"""The one worker pool: in-process mode, spawn processes with state built once, restart after a crash."""

from __future__ import annotations

import asyncio
import os

import pytest

from faceprint.config import Settings
from faceprint.errors import ModelError
from faceprint.workers import WorkerPool, one_thread_each


def _setup(tag: str) -> dict[str, object]:
    return {"tag": tag, "pid": os.getpid(), "calls": 0}


def _task(state: dict[str, object], item: int) -> tuple[str, int, int]:
    state["calls"] = int(str(state["calls"])) + 1
    return str(state["tag"]), int(str(state["pid"])), item * item


def _crash(state: dict[str, object], code: int) -> None:
    os._exit(code)


def test_in_process_mode_builds_the_state_once_here() -> None:
    with WorkerPool(_setup, ("x",), 0) as pool:
        results = list(pool.map(_task, range(5)))
    assert [r[2] for r in results] == [0, 1, 4, 9, 16]
    assert {r[1] for r in results} == {os.getpid()} and {r[0] for r in results} == {"x"}


def test_in_process_mode_uses_a_given_state() -> None:
    state = _setup("given")
    with WorkerPool(_setup, ("unused",), 0, state=state) as pool:
        assert pool.result(pool.submit(_task, 3)) == ("given", os.getpid(), 9)
    assert state["calls"] == 1


def test_processes_keep_order_and_their_own_state() -> None:
    with WorkerPool(_setup, ("p",), 2) as pool:
        results = list(pool.map(_task, range(12)))
    assert [r[2] for r in results] == [i * i for i in range(12)]
    assert os.getpid() not in {r[1] for r in results}


def test_a_crashed_worker_is_a_typed_error_and_the_pool_restarts() -> None:
    with WorkerPool(_setup, ("c",), 1, died="a test worker died") as pool:
        before = pool.result(pool.submit(_task, 2))[1]
        with pytest.raises(ModelError, match="a test worker died"):
            pool.result(pool.submit(_crash, 3))
        tag, pid, value = pool.result(pool.submit(_task, 4))
        assert (tag, value) == ("c", 16) and pid != before
        with pytest.raises(ModelError, match="restarted, try again"):
            asyncio.run(pool.call(_crash, 3))
        assert asyncio.run(pool.call(_task, 5))[2] == 25


def test_one_onnxruntime_thread_per_worker_process_unless_set() -> None:
    assert one_thread_each(Settings(), 4).threads == 1
    assert one_thread_each(Settings(), 1).threads == 0  # one worker process: every core
    assert one_thread_each(Settings(), 0).threads == 0  # in this process: every core
    assert one_thread_each(Settings(threads=3), 4).threads == 3
