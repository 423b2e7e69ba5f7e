#!/usr/bin/env bash
# Runs the suite once per Keras backend (TensorFlow, JAX, PyTorch) on CPU,
# offline, then the tests marked slow once on TensorFlow. Exits non-zero if
# any run fails. Extra arguments go to every pytest run. Each run lists its
# 15 slowest tests, to show where CI time goes.
set -uo pipefail
cd "$(dirname "$0")/.."
# Use the project's virtual environment whether or not it is activated.
if [ -x .venv/bin/python ]; then export PATH="$PWD/.venv/bin:$PATH"; fi
# OMP_WAIT_POLICY=PASSIVE: torch's busy-waiting OpenMP threads are ~50x slower
# when two pytest workers share the cores.
export TF_CPP_MIN_LOG_LEVEL=3 CUDA_VISIBLE_DEVICES="" PYTHONHASHSEED=0 OMP_WAIT_POLICY=PASSIVE
workers="${PYTEST_WORKERS:-2}"
status=0
for backend in ${BACKENDS:-tensorflow jax torch}; do
  echo "=== KERAS_BACKEND=$backend ==="
  KERAS_BACKEND=$backend python -m pytest -q -n "$workers" -p no:cacheprovider \
    --durations=15 "$@" \
    || status=1
done
if [ "${SLOW:-1}" = "1" ]; then
  echo "=== slow tests, KERAS_BACKEND=tensorflow ==="
  # --dist loadfile: a module's tests share one worker, so its module-scoped
  # fixtures (trained baselines, feature classifiers) are built once, not once
  # per worker.
  KERAS_BACKEND=tensorflow python -m pytest -q -n "$workers" -p no:cacheprovider \
    --dist loadfile --durations=15 -m slow "$@"
  rc=$?
  # Exit code 5 means no test is marked slow: not a failure.
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then status=1; fi
fi
exit $status
