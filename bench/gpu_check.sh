#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: install the GPU extra, run the test suite (every
# device-parametrized test then runs its cuda case too), and time the optimizers' CUDA kernels
# against torch's fused Adam and a device copy (bench/gpu_step.py). About 3-5 minutes.
#   bash bench/gpu_check.sh            (set CUPY=cupy-cuda13x for CUDA 13)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet -e ".[test]" "${CUPY:-cupy-cuda12x}"
python3 -c "from minigrad import backend; r = backend.gpu_unavailable_reason(); print(r or 'GPU: ok'); raise SystemExit(r is not None)"
python3 -m pytest -q -x -k "cuda" tests
python3 bench/gpu_step.py --sizes 100e6,1e9 --repeats 10
