#!/usr/bin/env bash
# One-command self-test of mmdet_rla on a GPU (docs/gpu.md): bash tools/gpu_check.sh [--out DIR] [--device cuda:N]
# [--reference-code RLANET_DIR] [--tiny] [--only/--skip SECTION ...]. Arguments go to python -m mmdet_rla.gpu_check
# (relative paths stay relative to the current folder); the project's .venv is used where it exists.
# Exit status 0: every check passed; 1: a check failed; 2: bad arguments.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY=python
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m mmdet_rla.gpu_check "$@"
