#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: run the test suite's cuda cases (every device-parametrized
# test), then time the optimizers' CUDA kernels against torch's fused Adam and a device copy
# (bench/gpu_step.py). About 3-5 minutes.
#   bash bench/gpu_check.sh            (set CUPY=cupy-cuda13x for CUDA 13)
# What is already importable is used as it is (a machine with no package index works when CuPy,
# pytest and hypothesis are there); otherwise the test extra and CuPy are installed. The bench
# runs even when tests fail; the exit status is the tests'. Each part has a time limit (tests: 240 s,
# or TESTS_TIMEOUT), so that a hang ends the check instead of the machine's lease.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! python3 -c "import cupy, pytest, hypothesis, numpy, safetensors" 2>/dev/null; then
  python3 -m pip install --quiet -e ".[test]" "${CUPY:-cupy-cuda12x}" || exit 1
fi
python3 -c "from minigrad import backend; r = backend.gpu_unavailable_reason(); print(r or 'GPU: ok'); raise SystemExit(r is not None)" || exit 1
python3 -c "import numpy, cupy; print('NumPy', numpy.__version__, '| CuPy', cupy.__version__, '| CUDA runtime', cupy.cuda.runtime.runtimeGetVersion())"
parallel=()  # pytest-xdist, where installed: the kernels compile in several processes at once
python3 -c "import xdist" 2>/dev/null && parallel=(-n "$(( $(nproc) < 8 ? $(nproc) : 8 ))")
timeout "${TESTS_TIMEOUT:-240}" python3 -m pytest -rfEs --tb=short -p no:cacheprovider "${parallel[@]}" -k "cuda" tests
status=$?
timeout 150 python3 bench/gpu_step.py --sizes 100e6,1e9 --repeats 10 || status=1
exit $status
