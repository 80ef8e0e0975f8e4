"""Several service replicas on one PostgreSQL database: search throughput, and enrolment rates.

    bash bench/run.sh replicas [--subjects 100000] [--replicas 1,2,4] [--clients 16] [--seconds 30]
                               [--enrol-subjects 20000] [--url postgresql://...]

1. A durable throwaway PostgreSQL cluster (scripts/postgres.sh init --durable, fsync on), unless
   ``--url`` names an existing database. Its store gets ``--subjects`` synthetic subjects plus
   the real astronaut (bench_service.build), kept across runs in that database.
2. Search: for each replica count, that many ``faceprint serve --workers 1`` processes on
   loopback ports, all on that database; ``--clients`` client threads (in one client process per
   replica, bench_service's load generator) POST the real probe photo for ``--seconds``.
3. Enrolment into fresh PostgreSQL and SQLite stores: ``enroll_many`` batches of 1,000 subjects
   (bulk import), and single-subject ``enroll`` calls (one transaction each, as the service does).

Prints a table. On a machine with few cores, replicas on the same host share its CPU: the
search rows then show the cost of sharing one database, not added capacity.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import MODEL, PURPOSE, build, photos, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "artifacts" / "bench-replicas"
SCRIPT = ROOT / "scripts" / "postgres.sh"


def start_cluster() -> tuple[Path, str]:
    directory = Path(tempfile.mkdtemp(prefix="faceprint-bench-pg."))
    out = subprocess.run(
        ["bash", str(SCRIPT), "init", str(directory), "--durable"], check=True, capture_output=True, text=True
    )
    return directory, out.stdout.strip().splitlines()[-1]


def new_database(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}".encode())
        conn.execute(f"CREATE DATABASE {name}".encode())
    return url.rsplit("/", 1)[0] + "/" + name


def serve(url: str, port: int, index: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FACEPRINT_STORE": url,
        "FACEPRINT_RATE_LIMIT": "0",
        "XDG_CACHE_HOME": str(WORK / f"cache-{index}"),  # each replica its own index cache, as on hosts
    }
    log = (WORK / f"replica-{index}.log").open("w")
    cmd = [sys.executable, "-m", "faceprint", "serve", "--port", str(port), "--workers", "1"]
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)


def wait_ready(urls: list[str], servers: list[subprocess.Popen[bytes]], secret: str, probe: bytes) -> None:
    import httpx

    for index, (url, server) in enumerate(zip(urls, servers, strict=True)):
        # the first start of a replica loads the 100k index
        wait_healthy(url, server, 600, str(WORK / f"replica-{index}.log"))
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=300) as http:
            for _ in range(2):
                r = http.post("/v1/search", files={"image": ("p.jpg", probe)}, data={"purpose": PURPOSE})
                assert r.status_code == 200, r.text


def search_run(
    url: str, replicas: int, clients: int, seconds: float, secret: str, probe: bytes
) -> dict[str, Any]:
    keyfile = WORK / "bench.key"
    keyfile.write_text(secret)
    keyfile.chmod(0o600)
    ports = [8800 + i for i in range(replicas)]
    servers = [serve(url, port, i) for i, port in enumerate(ports)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        wait_ready(urls, servers, secret, probe)
        per = [clients // replicas + (1 if i < clients % replicas else 0) for i in range(replicas)]
        client = [sys.executable, str(ROOT / "bench" / "bench_service.py"), "--client"]
        loads = [
            subprocess.Popen(
                [*client, u, str(keyfile), "--clients", str(n), "--seconds", str(seconds)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for u, n in zip(urls, per, strict=True)
        ]
        results = [json.loads(p.communicate()[0]) for p in loads]
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGINT)
        for server in servers:
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        keyfile.unlink(missing_ok=True)
    requests = sum(r["requests"] for r in results)
    wall = max(r["wall"] for r in results)
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {
        "replicas": replicas,
        "throughput": requests / wall,
        "p50": float(np.median([r["p50"] for r in results])),
        "p99": float(max(r["p99"] for r in results)),
        "errors": errors,
        "requests": requests,
    }


def enrol_rates(location: str | Path, subjects: int, singles: int) -> tuple[float, float]:
    """(subjects/s in enroll_many batches of 1,000, subjects/s with one enroll call each)."""
    import faceprint
    from faceprint.faces import Template
    from faceprint.store import Sample

    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((subjects + singles, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    samples = [Sample(Template(v, MODEL), f"s-{i}") for i, v in enumerate(vectors)]
    with faceprint.open_store(location, actor="bench") as store:
        started = time.perf_counter()
        for start in range(0, subjects, 1000):
            store.enroll_many(
                [(f"bulk-{i:06d}", [samples[i]]) for i in range(start, min(start + 1000, subjects))],
                purpose=PURPOSE,
            )
        bulk = subjects / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(subjects, subjects + singles):
            store.enroll(f"single-{i:06d}", [samples[i]], purpose=PURPOSE)
        single = singles / (time.perf_counter() - started)
    return bulk, single


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--replicas", default="1,2,4", help="replica counts, or 'none' (enrolment only)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--enrol-subjects", type=int, default=20_000)
    parser.add_argument("--enrol-singles", type=int, default=500)
    parser.add_argument("--url", default=None, help="an existing database instead of a throwaway cluster")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FACEPRINT_KEY_FILE", str(WORK / "store.key"))  # shared by every replica
    os.environ["XDG_CACHE_HOME"] = str(WORK / "cache-bench")
    cluster, url = (None, args.url) if args.url else start_cluster()
    enrol_photo, probe = photos()
    try:
        if cluster is not None:
            url = new_database(url, "bench")
        runs = []
        counts = [] if args.replicas == "none" else [int(c) for c in args.replicas.split(",")]
        if counts:
            started = time.perf_counter()
            build(url, args.subjects, enrol_photo)
            print(f"store ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)

            import faceprint

            with faceprint.open_store(url) as store:
                for key in store.keys.list():
                    if key.name == "bench":
                        store.keys.revoke("bench")
                _, secret = store.keys.create("bench", "search")
        for count in counts:
            runs.append(search_run(url, count, args.clients, args.seconds, secret, probe))
            print(f"  {count} replica(s): {runs[-1]['throughput']:.2f} searches/s", file=sys.stderr)

        pg_db = new_database(url, "bench_enrol") if cluster is not None else None
        sqlite_dir = Path(tempfile.mkdtemp(prefix="faceprint-bench-sqlite.", dir=WORK))
        os.environ["FACEPRINT_KEY_FILE"] = str(sqlite_dir / "enrol.key")
        rates = {}
        if pg_db is not None:
            rates["PostgreSQL (loopback TCP, fsync on)"] = enrol_rates(
                pg_db, args.enrol_subjects, args.enrol_singles
            )
        os.environ["FACEPRINT_KEY_FILE"] = str(sqlite_dir / "sqlite.key")
        rates["SQLite (WAL, synchronous=FULL)"] = enrol_rates(
            sqlite_dir / "g.db", args.enrol_subjects, args.enrol_singles
        )
        subprocess.run(["rm", "-rf", str(sqlite_dir)], check=False)
    finally:
        if cluster is not None:
            subprocess.run(["bash", str(SCRIPT), "destroy", str(cluster)], check=False)

    print(
        f"\nsearch: {args.subjects:,} subjects + 1 real on one PostgreSQL database; each replica "
        f"`faceprint serve --workers 1`; {args.clients} client threads over loopback, {args.seconds:.0f} s "
        f"per row; probe: a real 512x512 JPEG; {os.cpu_count()} cores\n"
    )
    if runs:
        print("| replicas | searches/s | p50 ms | p99 ms | errors |")
        print("|---|---|---|---|---|")
    for run in runs:
        errors = sum(run["errors"].values())
        print(
            f"| {run['replicas']} | {run['throughput']:.2f} | {run['p50']:.0f} | {run['p99']:.0f} | "
            f"{errors} {run['errors'] or ''} |"
        )
    print(
        f"\nenrolment: {args.enrol_subjects:,} subjects in batches of 1,000, then {args.enrol_singles} one by one\n"
    )
    print("| store | bulk subjects/s | single enrolments/s |")
    print("|---|---|---|")
    for name, (bulk, single) in rates.items():
        print(f"| {name} | {bulk:.0f} | {single:.0f} |")
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
