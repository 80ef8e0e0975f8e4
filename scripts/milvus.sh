#!/usr/bin/env bash
# A throwaway Milvus standalone server on loopback for faceprint's tests, benchmarks and trials.
#
#   scripts/milvus.sh install          install the server (PyPI 'milvus', the faceprint[milvus] extra)
#                                      into ./.venv when it is missing
#   scripts/milvus.sh start [DIR]      start a server with its data in DIR (default: a new temp dir;
#                                      give a new one each time: a restart on the same data can fail
#                                      on a stale etcd session); prints its URL for FACEPRINT_VECTORS
#                                      (milvus://127.0.0.1:PORT, also in DIR/url), its pid in DIR/pid
#   scripts/milvus.sh stop DIR         kill it (SIGKILL by its pid: SIGTERM hangs); the data stays
#   scripts/milvus.sh destroy DIR      stop it and delete DIR
#
# The PyPI package ships the real Milvus 2.3 standalone server (embedded etcd, rocksmq, local
# storage; the same server and gRPC protocol as a cluster). Every component advertises 127.0.0.1
# and every port is a free one from Milvus's defaults up. Start takes 4-9 s, ~220 MB idle.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${FACEPRINT_PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"

install() {
  if "$python" -c 'import milvus' 2>/dev/null; then return 0; fi
  echo "installing the Milvus server (PyPI milvus==2.3.5) ..." >&2
  "$python" -m pip install --quiet --disable-pip-version-check "milvus==2.3.5" >&2
}

start() {
  local dir="${1:-}"
  install
  if [ -z "$dir" ]; then dir="$(mktemp -d -t faceprint-milvus.XXXXXX)"; fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    echo "a server already runs in $dir (pid $(cat "$dir/pid"))" >&2; exit 2
  fi
  "$python" "$root/scripts/milvus_server.py" "$dir" >"$dir/start.log" 2>&1 ||
    { cat "$dir/start.log" >&2; stop "$dir"; exit 1; }
  echo "$dir" >"$dir/dir"
  cat "$dir/url"
}

stop() {
  local dir="$1" pid
  [ -f "$dir/pid" ] || return 0
  pid="$(cat "$dir/pid")"
  # the pid file is this server's only if its command line is the binary in this directory
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "^$dir/bin/milvus run"; then
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/pid"
}

destroy() {
  local dir="$1"
  [ -f "$dir/dir" ] || [ -f "$dir/configs/milvus.yaml" ] || { echo "$dir is not a server made by this script" >&2; exit 2; }
  stop "$dir"
  rm -rf "$dir"
}

command="${1:-}"
shift || true
case "$command" in
  install) install ;;
  start) start "$@" ;;
  stop) stop "${1:?usage: milvus.sh stop DIR}" ;;
  destroy) destroy "${1:?usage: milvus.sh destroy DIR}" ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
