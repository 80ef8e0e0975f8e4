#!/usr/bin/env bash
# Side-by-side benchmarks. Installs the peers into ./.venv when missing.
#   bash bench/run.sh [ARGS]        engine vs the face_recognition library (same dlib models, same
#                                   images); installed without its 'dlib' source build (dlib-bin
#                                   provides the dlib module). ARGS go to bench/bench_engine.py.
#   bash bench/run.sh index [ARGS]  the gallery's vector index at 1M templates: faiss IVF and HNSW,
#                                   usearch, numpy brute force. ARGS go to bench/bench_index.py.
#   bash bench/run.sh milvus [ARGS] the gallery's vectors on a Milvus server (started by
#                                   scripts/milvus.sh) vs the in-memory index at 100,000 templates:
#                                   build, RAM, p50/p99, recall@1, what consistency costs. ARGS go
#                                   to bench/bench_milvus.py (--sizes 100000,1000000 --index HNSW).
#   bash bench/run.sh store [ARGS]  the whole store at 1M templates: SQLite bulk insert, index save,
#                                   load and rebuild, Store.search latency. ARGS: bench/bench_store.py.
#   bash bench/run.sh service [ARGS] the HTTP service under load (32 clients, 100,000 subjects) vs
#                                   the library's own search. ARGS go to bench/bench_service.py.
#   bash bench/run.sh cluster [ARGS] people clustering on LFW (BCubed) vs Immich's and
#                                   face_recognition's DBSCAN; ARGS go to bench/cluster_lfw.py
#                                   (--incremental: 90% then +10% vs all at once).
#   bash bench/run.sh library [ARGS] 'faceprint index' vs the face_recognition CLI on >= 2,000 photos,
#                                   then kill -9 half-way and resume. ARGS: bench/bench_library.py
#                                   (--phone N: N composed 4032x3024 photos instead, no kill test).
#   bash bench/run.sh ray [ARGS]    'faceprint index --ray' on 1 and 2 Ray nodes (scripts/ray.sh, all on
#                                   this machine) next to 'faceprint index' without Ray, same composed
#                                   4032x3024 photos. ARGS go to bench/bench_ray.py (--photos N).
#   bash bench/run.sh detect [ARGS] detection recall by face size, false positives and ms per photo
#                                   on dlib's example set and composed 4032x3024 photos, faceprint's
#                                   detectors vs face_recognition's; end to end vs face_recognition.
#                                   ARGS go to bench/bench_detect.py (--detectors hog,cnn --photos N).
#   bash bench/run.sh replicas [ARGS] 1, 2 and 4 service replicas on one PostgreSQL database
#                                   (100,000 subjects), and enrolment into PostgreSQL vs SQLite.
#                                   ARGS go to bench/bench_replicas.py.
#   bash bench/run.sh people [ARGS] the People page: grid of a 10,000-face library (Chromium and
#                                   HTTP) and thumbnails/s cut from 12 MP JPEGs. ARGS go to
#                                   bench/bench_people.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_venv.sh" test
if [ "${1:-}" = index ]; then
  shift
  python -c "import usearch" 2>/dev/null ||
    python -m pip install --quiet --disable-pip-version-check "usearch==2.26.6"
  exec nice python bench/bench_index.py "$@"
fi
if [ "${1:-}" = milvus ]; then
  shift
  exec nice python bench/bench_milvus.py "$@"
fi
if [ "${1:-}" = store ]; then
  shift
  exec nice python bench/bench_store.py "$@"
fi
if [ "${1:-}" = replicas ]; then
  shift
  exec nice python bench/bench_replicas.py "$@"
fi
if [ "${1:-}" = service ]; then
  shift
  exec nice python bench/bench_service.py "$@"
fi
if [ "${1:-}" = people ]; then
  shift
  exec nice python bench/bench_people.py "$@"
fi
if [ "${1:-}" = ray ]; then
  shift
  exec nice python bench/bench_ray.py "$@"
fi
if [ "${1:-}" = cluster ]; then
  shift
  exec nice python bench/cluster_lfw.py "$@"
fi
python -c "import face_recognition" 2>/dev/null ||
  python -m pip install --quiet --disable-pip-version-check --no-deps "face-recognition==1.3.0" "setuptools<81"
# face_recognition_models reads its files through pkg_resources, which setuptools 81 dropped; an
# extra (pymilvus) may have upgraded setuptools since: bring back a version that has it
python -c "import pkg_resources" 2>/dev/null ||
  python -m pip install --quiet --disable-pip-version-check "setuptools>=69,<81"
if [ "${1:-}" = detect ]; then
  shift
  exec python bench/bench_detect.py "$@"
fi
if [ "${1:-}" = library ]; then
  shift
  exec nice python bench/bench_library.py "$@"
fi
exec python bench/bench_engine.py "$@"
