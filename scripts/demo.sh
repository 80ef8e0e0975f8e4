#!/usr/bin/env bash
# Install faceprint into ./.venv (first run only) and run the demo: detect and verify faces on
# photos that installed packages ship. Extra arguments go to 'faceprint demo' (e.g. --out DIR).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" ""
exec faceprint demo "$@"
