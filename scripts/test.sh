#!/usr/bin/env bash
# Runs the whole suite once per Keras backend (TensorFlow, JAX, PyTorch) on CPU,
# offline. Exits non-zero if any backend's run fails.
set -uo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3 CUDA_VISIBLE_DEVICES="" PYTHONHASHSEED=0
workers="${PYTEST_WORKERS:-2}"
status=0
for backend in ${BACKENDS:-tensorflow jax torch}; do
  echo "=== KERAS_BACKEND=$backend ==="
  KERAS_BACKEND=$backend python -m pytest -q -n "$workers" -p no:cacheprovider "$@" || status=1
done
exit $status
