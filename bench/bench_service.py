"""The HTTP service under load: 32 clients searching a 100,000-subject store, against the library.

    bash bench/run.sh service [--subjects 100000] [--clients 32] [--seconds 60] [--workers N]

1. Builds a store of ``--subjects`` subjects (synthetic unit templates with the real engine's
   model id, written with ``Store.enroll_many`` in batches) plus one real subject, the astronaut,
   enrolled from its photo; the store is kept in ``artifacts/bench-service/`` and reused.
2. The library's own throughput: ``Store.search(photo)`` in a loop in this process (one process,
   the real search path: decode, detect, landmarks, embed, index, audit row).
3. ``faceprint serve`` in a subprocess, then a second process with ``--clients`` threads, each
   POSTing the real photo to ``/v1/search`` (multipart) for ``--seconds``. Reports throughput,
   p50/p99 latency, errors, and the resident memory of the server (with its inference workers)
   after warm-up and after the run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = "dlib-resnet-v1"
PURPOSE = "bench"


def photos() -> tuple[bytes, bytes]:
    """(enrolment photo, probe photo): the astronaut and its changed copy, as JPEG."""
    import io

    from PIL import Image

    from faceprint.demo import sample_images

    images = sample_images()
    out = []
    for name in ("astronaut (NASA)", "astronaut, changed copy"):
        buf = io.BytesIO()
        Image.fromarray(images[name]).save(buf, "JPEG", quality=92)
        out.append(buf.getvalue())
    return out[0], out[1]


def build(path: str | Path, subjects: int, enrol_photo: bytes) -> None:
    import faceprint
    from faceprint.faces import Template
    from faceprint.store import Sample

    with faceprint.open_store(path, actor="bench") as store:
        have = len(store)
        if have >= subjects + 1:
            print(f"store: reusing {path} ({have:,} subjects)", file=sys.stderr)
            return
        started = time.perf_counter()
        rng = np.random.default_rng(7)
        batch = 5000
        for start in range(have, subjects, batch):
            vectors = rng.standard_normal((min(batch, subjects - start), 128)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            entries = [
                (f"synthetic-{start + i:06d}", [Sample(Template(v, MODEL), f"synthetic-{start + i}")])
                for i, v in enumerate(vectors)
            ]
            store.enroll_many(entries, purpose=PURPOSE)
            print(f"  {start + len(entries):,} subjects", file=sys.stderr, flush=True)
        store.enroll("astronaut", [enrol_photo], purpose=PURPOSE)
        print(f"store: built {subjects:,} subjects in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def library_throughput(path: Path, probe: bytes, seconds: float) -> tuple[float, float]:
    """Searches per second and p50 latency (ms) of ``Store.search`` in one process."""
    import faceprint

    with faceprint.open_store(path, engine=faceprint.Engine().load(), actor="bench") as store:
        found = store.search(probe, purpose=PURPOSE)  # warm: index loaded, models loaded
        assert found.faces[0].matches[0].subject == "astronaut"
        times = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            store.search(probe, purpose=PURPOSE)
            times.append(time.perf_counter() - t)
    return len(times) / sum(times), float(np.percentile(times, 50) * 1000)


def wait_healthy(url: str, server: subprocess.Popen[bytes], seconds: float, log: str) -> None:
    """Until ``url`` answers its health check; exit naming ``log`` if the server dies or times out."""
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{url} did not start; see {log}")
        time.sleep(0.5)


def rss_tree(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, bytes."""
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += (
                int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) * 1024
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo += [int(c) for c in children]
        except (OSError, StopIteration):
            continue
    return total


def client(url: str, key: str, probe: bytes, clients: int, seconds: float) -> dict[str, Any]:
    """Run in the second process: ``clients`` threads searching for ``seconds``."""
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def worker() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
            while time.perf_counter() < end:
                t = time.perf_counter()
                try:
                    r = http.post(
                        "/v1/search",
                        files={"image": ("p.jpg", probe, "image/jpeg")},
                        data={"purpose": PURPOSE},
                    )
                    ok = r.status_code == 200 and r.json()["faces"][0]["matches"][0]["subject"] == "astronaut"
                    what = "ok" if ok else f"http {r.status_code}"
                except (httpx.HTTPError, KeyError, IndexError) as exc:
                    what = type(exc).__name__
                elapsed = time.perf_counter() - t
                with lock:
                    if what == "ok":
                        latencies.append(elapsed)
                    else:
                        errors[what] = errors.get(what, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "wall": wall,
        "throughput": len(latencies) / wall,
        "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--library-seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--store", type=Path, default=ROOT / "artifacts" / "bench-service" / "gallery.db")
    parser.add_argument("--client", nargs=2, metavar=("URL", "KEYFILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    enrol_photo, probe = photos()
    if args.client:  # the second process
        key = Path(args.client[1]).read_text().strip()
        print(json.dumps(client(args.client[0], key, probe, args.clients, args.seconds)))
        return

    build(args.store, args.subjects, enrol_photo)
    lib_rate, lib_p50 = library_throughput(args.store, probe, args.library_seconds)
    print(f"library: {lib_rate:.2f} searches/s, p50 {lib_p50:.0f} ms", file=sys.stderr)

    import faceprint

    with faceprint.open_store(args.store) as store:
        for record in store.keys.list():
            if record.name == "bench":
                store.keys.revoke("bench")
        _, secret = store.keys.create("bench", "search")
    keyfile = args.store.with_name("bench.key")
    keyfile.write_text(secret)
    keyfile.chmod(0o600)
    env = {**os.environ, "FACEPRINT_RATE_LIMIT": "0"}
    cmd = [sys.executable, "-m", "faceprint", "--store", str(args.store), "serve", "--port", str(args.port)]
    log = args.store.with_name("server.log").open("w")
    server = subprocess.Popen([*cmd, "--workers", str(args.workers)], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{args.port}"
    try:
        import httpx

        wait_healthy(url, server, 300, log.name)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=120) as http:
            for _ in range(2 * args.workers):  # warm every worker's index and models
                http.post("/v1/search", files={"image": ("p.jpg", probe)}, data={"purpose": PURPOSE})
        rss_before = rss_tree(server.pid)
        print(f"server: {args.workers} inference workers, RSS {rss_before / 2**20:.0f} MiB", file=sys.stderr)
        out = subprocess.run(
            [sys.executable, __file__, "--client", url, str(keyfile), "--clients", str(args.clients),
             "--seconds", str(args.seconds)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        result = json.loads(out.stdout)
        rss_after = rss_tree(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        keyfile.unlink(missing_ok=True)

    errors = sum(result["errors"].values())
    print(
        f"\n{args.subjects:,} subjects + 1 real; probe: a real 512x512 JPEG (decode, detect with the "
        f"configured detector, landmarks, embed, index, audit row); {os.cpu_count()} cores\n"
    )
    print("| | searches/s | p50 ms | p99 ms | errors | server RSS before -> after |")
    print("|---|---|---|---|---|---|")
    print(f"| library, one process, `Store.search(photo)` | {lib_rate:.2f} | {lib_p50:.0f} | | | |")
    print(
        f"| service, {args.clients} clients, {args.workers} workers, {result['wall']:.0f} s | "
        f"{result['throughput']:.2f} | {result['p50']:.0f} | {result['p99']:.0f} | {errors} "
        f"{result['errors'] or ''} | {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB |"
    )
    print(
        f"\nratio service / library: {result['throughput'] / lib_rate:.2f}  ({result['requests']} requests ok)"
    )
    print(f"load average at end {os.getloadavg()[0]:.1f} (other work on this machine slows every row alike)")


if __name__ == "__main__":
    main()
