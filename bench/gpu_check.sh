#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: run the test suite's cuda cases (every device-parametrized
# test, and the CUDA-graph replay of mg.compile), then time the optimizers' CUDA kernels against
# torch's fused Adam and a device copy (bench/gpu_step.py), then the training steps per second
# of digits and names on the CPU and the GPU, eager and compiled. About 5-7 minutes with
# pytest-xdist.
#   bash bench/gpu_check.sh            (set CUPY=cupy-cuda13x for CUDA 13)
# What is already importable is used as it is (a machine with no package index works when CuPy,
# pytest, hypothesis, NumPy and safetensors are there); otherwise the test extra and CuPy are
# installed. The bench runs even when tests fail, and each part says how it ended; the exit
# status is 0 only when both succeeded. Each part has a time limit (tests: TESTS_TIMEOUT
# seconds, 240 with pytest-xdist and 900 without; the bench: 150), so that a hang ends the
# check instead of the machine's lease; a test run cut short still prints its failures.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
missing=$(python3 -c "
import importlib.util
print(' '.join(m for m in ('cupy', 'pytest', 'hypothesis', 'numpy', 'safetensors')
               if importlib.util.find_spec(m) is None))")
if [ -n "$missing" ]; then
  echo "not importable: $missing; installing the test extra and ${CUPY:-cupy-cuda12x}"
  python3 -m pip install --quiet --retries 0 --timeout 20 -e ".[test]" "${CUPY:-cupy-cuda12x}" || exit 1
fi
python3 -c "from minigrad import backend; r = backend.gpu_unavailable_reason(); print(r or 'GPU: ok'); raise SystemExit(r is not None)" || exit 1
python3 -c "import numpy, cupy; print('NumPy', numpy.__version__, '| CuPy', cupy.__version__, '| CUDA runtime', cupy.cuda.runtime.runtimeGetVersion())"
parallel=()  # pytest-xdist, where installed: the kernels compile in several processes at once
limit=900
if python3 -c "import xdist" 2>/dev/null; then
  parallel=(-n "$(( $(nproc) < 8 ? $(nproc) : 8 ))")
  limit=240
fi
# SIGINT at the limit: pytest then prints its summary (which tests failed) before it stops
timeout -s INT -k 15 "${TESTS_TIMEOUT:-$limit}" python3 -m pytest -rfEs --tb=short -p no:cacheprovider \
  ${parallel[@]+"${parallel[@]}"} -k "cuda" tests
tests=$?
[ $tests -eq 124 ] && echo "gpu_check: the tests hit their time limit (${TESTS_TIMEOUT:-$limit} s)"
timeout -k 15 150 python3 bench/gpu_step.py --sizes 100e6,1e9 --repeats 10
bench=$?
# training steps per second: each bundled small task on the CPU and on the GPU, eager and
# compiled (mg.compile: on the GPU the forward and backward pass replay as one CUDA graph)
train=0
out=$(mktemp -d)
for task in digits names; do
  for device in cpu cuda; do
    for compiled in "" "--compile"; do
      echo "train $task on $device ${compiled:-(eager)}:"
      MINIGRAD_COMPILE_DEBUG=1 timeout -k 15 120 python3 -m models train --task "$task" --device "$device" \
        --steps "${TRAIN_STEPS:-2000}" $compiled --out "$out/$task-$device$compiled" --quiet 2>&1 \
        | grep -E "^step|mg.compile|Error" || train=1
    done
  done
done
rm -rf "$out"
echo "gpu_check: tests exit $tests, bench exit $bench, train exit $train"
[ $tests -eq 0 ] && [ $bench -eq 0 ] && [ $train -eq 0 ]
