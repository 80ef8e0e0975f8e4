#!/usr/bin/env bash
# A throwaway Ray cluster on loopback for faceprint's tests, benchmarks and trials
# (faceprint index DIR --ray ADDRESS).
#
#   scripts/ray.sh start [DIR] [--nodes N] [--cpus C]
#                          start a head node on 127.0.0.2 and N-1 more nodes (default N=2) on
#                          127.0.0.3, 127.0.0.4, ..., each offering C CPUs (default 1), with DIR as
#                          Ray's temp dir (default: a new temp dir); prints the head's address
#                          HOST:PORT (also in DIR/address). The pids it started are in DIR/pids.
#                          Token authentication is on: a client needs the variables in DIR/env
#                          (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN_PATH=DIR/auth_token), e.g.
#                          (source DIR/env && faceprint index PHOTOS --ray HOST:PORT).
#   scripts/ray.sh stop DIR
#                          stop that cluster by the pids it recorded (SIGTERM, then SIGKILL after
#                          a few seconds) and delete DIR. Never 'ray stop': that would stop every
#                          Ray cluster on the machine, not only this one.
#
# Each node runs 'ray start --block' in a session of its own, so its pid is the process group of
# that node's GCS, raylet and agents; Ray's workers start sessions of their own, so 'stop' also
# collects every descendant of the recorded pids before it signals anything. 127.0.0.1 cannot be
# used: Ray rewrites it to the host's first non-loopback address. No dashboard, no usage stats.
# Ray 2.60.0 still listens on every interface (GCS, raylets), hence the token: without it,
# anyone who reaches a port could run code on the cluster.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ray_bin() {
  if [ -x "$here/../.venv/bin/ray" ]; then echo "$here/../.venv/bin/ray"; return 0; fi
  command -v ray || { echo "ray not found: pip install 'faceprint[ray]'" >&2; exit 2; }
}

free_port() {  # a free TCP port on the address $1
  python3 -c 'import socket, sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"
}

# Start one node in the background and wait until it is up: start_node DIR NAME IP ARGS...
start_node() {
  local dir="$1" name="$2" ip="$3" pid i
  shift 3
  RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$dir/auth_token" \
    setsid "$(ray_bin)" start --block --node-ip-address "$ip" \
    --temp-dir "$dir/tmp" --disable-usage-stats --object-store-memory 200000000 \
    --dashboard-agent-listen-port "$(free_port "$ip")" "$@" >"$dir/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >>"$dir/pids"
  for i in $(seq 600); do  # up to 60 s
    if grep -qs "Ray runtime started" "$dir/$name.log"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "Ray node $name on $ip did not start; its log:" >&2
  tail -n 20 "$dir/$name.log" >&2
  return 1
}

start() {
  local dir="" nodes=2 cpus=1 port address n
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes="$2"; shift 2 ;;
      --cpus) cpus="$2"; shift 2 ;;
      *) dir="$1"; shift ;;
    esac
  done
  if [ -z "$dir" ]; then dir="$(mktemp -d -t faceprint-ray.XXXXXX)"; fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -e "$dir/pids" ]; then echo "$dir already holds a cluster: stop it first" >&2; exit 2; fi
  : >"$dir/pids"
  (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$dir/auth_token")
  printf 'export RAY_AUTH_MODE=token\nexport RAY_AUTH_TOKEN_PATH=%s\n' "$dir/auth_token" >"$dir/env"
  port="$(free_port 127.0.0.2)"
  address="127.0.0.2:$port"
  if ! start_node "$dir" head 127.0.0.2 --head --port "$port" --num-cpus "$cpus" \
    --include-dashboard false; then
    stop "$dir"; exit 1
  fi
  for n in $(seq 2 "$nodes"); do
    if ! start_node "$dir" "node$n" "127.0.0.$((n + 1))" --address "$address" --num-cpus "$cpus"; then
      stop "$dir"; exit 1
    fi
  done
  echo "$address" >"$dir/address"
  echo "$address"
}

# Every process below the pids given (Ray's workers run in sessions of their own, so a process
# group does not hold them; after their raylet dies they are no longer its descendants).
descendants() {
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1
      do { added = 0
        for (i in pids) { p = pids[i]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; added = 1 } }
      } while (added)
      for (p in keep) print p
    }'
}

stop() {
  local dir="$1" pid i alive tree
  [ -f "$dir/pids" ] || { echo "$dir is not a cluster made by this script" >&2; exit 2; }
  # shellcheck disable=SC2046
  tree="$(descendants $(cat "$dir/pids"))"
  for pid in $(cat "$dir/pids"); do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for i in $(seq 50); do  # up to 5 s for a clean exit, then SIGKILL
    alive=0
    for pid in $tree; do if kill -0 "$pid" 2>/dev/null; then alive=1; fi; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in $(cat "$dir/pids"); do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in $tree; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}

command="${1:-}"
shift || true
case "$command" in
  start) start "$@" ;;
  stop) stop "${1:?usage: ray.sh stop DIR}" ;;
  *) sed -n '2,22p' "$0" >&2; exit 2 ;;
esac
