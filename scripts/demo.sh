#!/usr/bin/env bash
# Install faceprint into ./.venv (first run only) and run the demo: detect and verify faces on
# photos that installed packages ship. Extra arguments go to 'faceprint demo' (e.g. --out DIR).
# The server extra comes along so that the same .venv runs 'faceprint serve' (README, The service).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" server
exec faceprint demo "$@"
