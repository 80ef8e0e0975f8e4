#!/usr/bin/env bash
# Install faceprint with its test tools into ./.venv (first run only), then lint, type-check and
# run the test suite. Extra arguments go to pytest. Tests needing ../shared/data skip without it.
# PostgreSQL (Debian's package) is installed when missing, and the Milvus server (the milvus extra):
# the store suite runs against both too. Ray comes with the test extra: a two-node cluster on
# loopback (scripts/ray.sh) runs 'index --ray'.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" test
if bash scripts/postgres.sh install; then
  export FACEPRINT_TEST_POSTGRES=required  # installed: its tests must run, not skip
else
  echo "PostgreSQL could not be installed: its tests skip" >&2
fi
export FACEPRINT_TEST_RAY=required  # the test extra installs Ray: its two-node tests must run
if bash scripts/milvus.sh install; then
  export FACEPRINT_TEST_MILVUS=required  # the milvus extra is installed: its tests must run, not skip
else
  echo "The Milvus server could not be installed: its tests skip" >&2
fi
echo "== ruff"
ruff check src tests bench scripts
ruff format --check src tests bench scripts
echo "== mypy"
mypy
bash "$(dirname "${BASH_SOURCE[0]}")/browser.sh"
echo "== pytest"
exec python -m pytest "$@"
