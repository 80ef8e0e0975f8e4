"""Start a Milvus standalone server (PyPI ``milvus``) on loopback in DIR; used by scripts/milvus.sh.

Writes the server's config (every component bound to 127.0.0.1, free ports), unpacks the
binaries the package ships into DIR/bin, starts ``milvus run standalone`` in its own session
(stdout and stderr to DIR/logs), writes DIR/pid and DIR/url (``milvus://127.0.0.1:PORT``) and
waits until its health check answers. Prints the URL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

#: Components that register an address of their own: loopback, or they pick the host's first
#: non-loopback address (and the proxy would then talk to them there).
_COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")


def _embedded_etcd(directory: Path, client_port: int) -> None:
    """The embedded etcd on loopback with a free peer port (its default 2380 is fixed otherwise,
    so a second server on the host would fail to start)."""
    with socket.socket() as sock:  # an ephemeral port: apart from the ones resolved from the defaults
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    peer, client = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{client_port}"
    etcd = directory / "configs" / "etcd.yaml"
    etcd.write_text(
        f"name: default\nlisten-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
        f"initial-cluster: default={peer}\nlisten-client-urls: {client}\nadvertise-client-urls: {client}\n"
    )
    yaml = directory / "configs" / "milvus.yaml"
    text = yaml.read_text().replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd}\n", 1)
    yaml.write_text(text)


def start(directory: Path, timeout: float) -> str:
    import milvus  # the server package: imported here, never by faceprint

    config = milvus.MilvusServerConfig(data_dir=str(directory))
    for component in _COMPONENTS:
        config.set(f"{component}.ip", "127.0.0.1")
    config.set("minio.address", "127.0.0.1")
    # what a deleted vector leaves on disk is kept for minutes, not days (docs/privacy.md): the
    # message queue's retention (default 3 days), garbage collection of compacted-away segment
    # files (default: checked hourly, removed 3 h after they were dropped)
    config.set("rocksmq.retentionTimeInMinutes", 10)
    config.set("dataCoord.gc.interval", 60)
    config.set("dataCoord.gc.dropTolerance", 60)
    config.resolve()  # free ports from the defaults up, binding 127.0.0.1; writes configs/milvus.yaml
    _embedded_etcd(directory, int(config.get("etcd_port")))
    server = milvus.MilvusServer(config, wait_for_started=False)
    milvus._initialize_data_files(str(directory))  # the binaries, unpacked once per directory
    port, sock = config.resolve_port(9091)
    sock.close()
    executable = directory / "bin" / "milvus"
    env = dict(os.environ)
    env.update(
        DEPLOY_MODE="STANDALONE",
        METRICS_PORT=str(port),
        MILVUS_RUN_DIR=str(directory / "run"),
        LD_LIBRARY_PATH=f"{directory / 'bin'}:{os.environ.get('LD_LIBRARY_PATH', '')}",
    )
    logs = directory / "logs"
    logs.mkdir(exist_ok=True)
    with (logs / "milvus-stdout.log").open("w") as out, (logs / "milvus-stderr.log").open("w") as err:
        proc = subprocess.Popen(
            [str(executable), "run", "standalone"],
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # outlives this script; stopped by its pid (scripts/milvus.sh stop)
        )
    (directory / "pid").write_text(f"{proc.pid}\n")
    url = f"milvus://127.0.0.1:{server.listen_port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"milvus exited with {proc.returncode}; see {logs}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if b"OK" in resp.read():
                    (directory / "url").write_text(url + "\n")
                    return url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"milvus did not answer its health check in {timeout:.0f} s; see {logs}")


if __name__ == "__main__":
    print(start(Path(sys.argv[1]).resolve(), float(sys.argv[2]) if len(sys.argv) > 2 else 120.0))
