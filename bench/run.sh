#!/usr/bin/env bash
# Run the engine benchmark side by side with the face_recognition library (the peer, same dlib
# models) on the same images. Installs the peer into ./.venv without its 'dlib' source build
# (dlib-bin provides the dlib module). Arguments go to bench/bench_engine.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_venv.sh" test
python -c "import face_recognition" 2>/dev/null ||
  python -m pip install --quiet --disable-pip-version-check --no-deps "face-recognition==1.3.0" "setuptools<81"
exec python bench/bench_engine.py "$@"
