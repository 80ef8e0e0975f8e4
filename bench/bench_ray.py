"""Bulk indexing on Ray: ``faceprint index DIR --ray ADDRESS`` with 1 and 2 Ray nodes next to
``faceprint index DIR`` without Ray, on the same folder of composed phone photos.

The folder: N composed 4032x3024 JPEGs (1-10 LFW faces of 40-800 px each, ``tests/compose.py``,
built once under ``artifacts/library-bench/phone-*`` by bench/bench_library.py's builder). Runs,
each into a fresh SQLite store, one after the other:

- ``faceprint index DIR --workers C`` (the local process pool, C = cores), and the same with
  ``OMP_NUM_THREADS=1``, the value Ray gives its one-CPU workers;
- ``--ray`` on one node offering C CPUs (``scripts/ray.sh start --nodes 1 --cpus C``): C actors;
- ``--ray`` on two nodes offering C/2 CPUs each (the same C actors, spread over two raylets);
- ``--ray`` on two nodes offering C CPUs each (2C actors: more actors than cores).

Every node of these clusters runs on this machine, so all of them share its cores: the rows
measure what Ray costs and that the work spreads, not a speed-up from more hardware (which comes
from nodes on other hosts). The load average is printed before and after each row.

    python bench/bench_ray.py [--photos 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.compose, bench.bench_library
SCRIPT = ROOT / "scripts" / "ray.sh"

from bench.bench_library import LFW, build_phone  # noqa: E402


def index(
    store: Path, folder: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[float, dict[str, Any]]:
    for path in store.parent.glob(store.name + "*"):
        path.unlink()
    cmd = [sys.executable, "-m", "faceprint", "--store", str(store), "index", str(folder), *args, "--json"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr)
    return seconds, json.loads(done.stdout)


def on_ray(store: Path, folder: Path, nodes: int, cpus: int) -> tuple[float, dict[str, Any], float]:
    """Start a cluster, index on it, stop it: (wall seconds of the index, report, start seconds)."""
    directory = ROOT / "artifacts" / f"ray-bench-{os.getpid()}"
    start = time.perf_counter()
    address = subprocess.run(
        ["bash", str(SCRIPT), "start", str(directory), "--nodes", str(nodes), "--cpus", str(cpus)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    started = time.perf_counter() - start
    try:
        token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(directory / "auth_token")}
        seconds, report = index(store, folder, "--ray", address, env={**os.environ, **token})
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(directory)], check=False, capture_output=True)
    return seconds, report, started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lfw", type=Path, default=LFW)
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "library-bench")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    source = (ROOT / "tests" / "compose.py").read_bytes()
    folder = args.out / f"phone-{hashlib.sha256(source).hexdigest()[:12]}-{args.seed}-{args.photos}"
    faces = build_phone(folder, args.lfw, args.photos, args.seed)
    print(
        f"{args.photos} composed 4032x3024 photos ({faces:,} faces), {cores} cores, "
        f"every Ray node on this machine (they share its cores)"
    )
    print()
    print(
        "| run | nodes x CPUs | workers | command time | photos/s | photos/s in the run | faces "
        "| photos per node | load before / after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    half = max(cores // 2, 1)
    runs: list[tuple[str, int, int]] = [
        ("local", 0, 0),
        ("local-omp1", 0, 0),
        ("ray", 1, cores),
        ("ray", 2, half),
        ("ray", 2, cores),
    ]
    for kind, nodes, cpus in runs:
        before = os.getloadavg()[0]
        store = args.out / f"ray-bench-{kind}-{nodes}x{cpus}.db"
        if kind.startswith("local"):
            # Ray starts its workers with OMP_NUM_THREADS=1 (num_cpus=1); the local pool's processes
            # inherit this environment: the second row runs them as Ray does.
            env = {**os.environ, "OMP_NUM_THREADS": "1"} if kind == "local-omp1" else None
            seconds, report = index(store, folder, "--workers", str(cores), env=env)
            label = "`faceprint index` (local pool)" + (", OMP_NUM_THREADS=1" if env else "")
            shape, workers, spread = "-", cores, "-"
        else:
            seconds, report, started = on_ray(store, folder, nodes, cpus)
            label = f"`--ray`, {nodes} node{'s' if nodes > 1 else ''} (cluster start {started:.1f} s)"
            shape, workers = f"{nodes} x {cpus}", nodes * cpus
            spread = " / ".join(str(n["tasks"]) for n in sorted(report["nodes"], key=lambda n: n["address"]))
        rate, inner = report["indexed"] / seconds, report["indexed"] / report["seconds"]
        print(
            f"| {label} | {shape} | {workers} | {seconds:.1f} s | {rate:.2f} | {inner:.2f} "
            f"| {report['faces']:,} | {spread} "
            f"| {before:.2f} / {os.getloadavg()[0]:.2f} |",
            flush=True,
        )
    print(
        "\ncommand time and photos/s: the whole 'faceprint index' command (start-up, Ray connection, model "
        "loading); in the run: the report's own seconds (from the walk to the last commit)"
    )


if __name__ == "__main__":
    main()
