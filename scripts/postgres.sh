#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for faceprint's tests, benchmarks and trials.
#
#   scripts/postgres.sh install             install Debian's postgresql when its binaries are missing
#   scripts/postgres.sh init [DIR] [--durable]
#                                           new cluster in DIR (default: a new temp dir), started on a
#                                           free port of 127.0.0.1 and a unix socket in DIR; prints
#                                           the URL of its database 'faceprint' (also in DIR/url)
#   scripts/postgres.sh stop DIR            stop the server (the data stays; 'start' brings it back)
#   scripts/postgres.sh start DIR           start it again, on the same port
#   scripts/postgres.sh destroy DIR         stop it and delete DIR
#
# The cluster trusts local connections (it listens on loopback only) and runs with fsync off
# unless --durable: it holds test data, never anything to keep. initdb refuses to run as root,
# so as root the server runs as the 'postgres' user (created by Debian's package).
set -euo pipefail

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return 0
  fi
  return 1
}

install() {
  if bindir >/dev/null; then return 0; fi
  echo "installing Debian's postgresql ..." >&2
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 ||
    { sudo_if_needed apt-get update -q >&2 &&
      sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
  bindir >/dev/null || { echo "PostgreSQL binaries not found after installing" >&2; exit 1; }
}

# Run a PostgreSQL binary as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_start() {
  local dir="$1" bin port
  bin="$(bindir)"
  port="$(cat "$dir/port")"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
}

init() {
  local dir="" durable=0 bin port
  for arg in "$@"; do
    case "$arg" in
      --durable) durable=1 ;;
      *) dir="$arg" ;;
    esac
  done
  install
  bin="$(bindir)"
  if [ -z "$dir" ]; then dir="$(mktemp -d -t faceprint-pg.XXXXXX)"; fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    chown postgres "$dir"
    chmod 755 "$dir"
  fi
  as_owner "$bin/initdb" -D "$dir/data" -U faceprint --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  {
    echo "max_connections = 200"
    echo "shared_buffers = 128MB"
    if [ "$durable" -eq 0 ]; then echo "fsync = off"; echo "synchronous_commit = off"; fi
  } | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
  port="$(free_port)"
  echo "$port" | as_owner tee "$dir/port" >/dev/null
  pg_start "$dir"
  as_owner "$bin/createdb" -h "$dir" -p "$port" -U faceprint faceprint
  echo "postgresql://faceprint@127.0.0.1:$port/faceprint" | as_owner tee "$dir/url"
}

stop() {
  local dir="$1" bin
  bin="$(bindir)"
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  fi
}

destroy() {
  local dir="$1" bin
  [ -f "$dir/url" ] || { echo "$dir is not a cluster made by this script" >&2; exit 2; }
  bin="$(bindir)"
  if [ -f "$dir/data/postmaster.pid" ]; then  # its data is thrown away: no shutdown checkpoint
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null || true
  fi
  rm -rf "$dir"
}

command="${1:-}"
shift || true
case "$command" in
  install) install ;;
  init) init "$@" ;;
  stop) stop "${1:?usage: postgres.sh stop DIR}" ;;
  start) pg_start "${1:?usage: postgres.sh start DIR}" ;;
  destroy) destroy "${1:?usage: postgres.sh destroy DIR}" ;;
  *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
