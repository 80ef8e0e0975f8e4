#!/usr/bin/env bash
# Install faceprint with its test tools into ./.venv (first run only), then lint, type-check and
# run the test suite. Extra arguments go to pytest. Tests needing ../shared/data skip without it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" test
echo "== ruff"
ruff check src tests bench scripts
ruff format --check src tests bench scripts
echo "== mypy"
mypy
bash "$(dirname "${BASH_SOURCE[0]}")/browser.sh"
echo "== pytest"
exec python -m pytest "$@"
