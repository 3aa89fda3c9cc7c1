#!/usr/bin/env bash
# One prepared GPU benchmark run (under 8 minutes on one H100/H200): SimCLR ResNet-50 at 224 px (bf16 autocast,
# channels_last, eager and torch.compile) on synthetic data and through the real-image loader, feature
# extraction, and the lbfgs_logreg probe sweep on 50,000 x 2,048 synthetic features on the GPU. The figures are
# appended to benchmarks/RESULTS.md (see benchmarks/gpu_bench.py for what each one measures).
#
#   bash benchmarks/gpu.sh            # the real run (on the GPU machine)
#   bash benchmarks/gpu.sh --smoke    # tiny sizes on any device: checks the script end to end; the entry goes
#                                     # to a temporary file that is printed, RESULTS.md is left alone
# Extra arguments go to gpu_bench.py (e.g. --no-compile, --batch 128). PYTHON overrides the interpreter
# (default: the repository's .venv, else python3). The run is cut at 470 s; gpu_bench.py starts no section
# after 440 s (--budget), so the entry is written in time.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
smoke=0
for arg in "$@"; do [[ "$arg" == "--smoke" ]] && smoke=1; done
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
if [[ $smoke == 1 ]]; then
  out="$(mktemp -t archssl-gpu-smoke.XXXXXX.md)"
  timeout 470 "$PY" benchmarks/gpu_bench.py --record --results "$out" "$@"
  echo "---- entry (written to $out, not to benchmarks/RESULTS.md) ----"
  cat "$out"
else
  timeout 470 "$PY" benchmarks/gpu_bench.py --record "$@"
fi
