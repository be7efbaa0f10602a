#!/usr/bin/env bash
# Set up the environment (idempotent), lint the tree and check its layout (ruff check, ruff format --check; rules
# in pyproject.toml; `.venv/bin/ruff format .` fixes the layout) and run the test suite.
# Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
"$ROOT/.venv/bin/ruff" check .
"$ROOT/.venv/bin/ruff" format --check .
# TorchInductor's kernel cache (compiled kernels, vector-ISA probes), one per checkout: its default
# (/tmp/torchinductor_$USER) is shared by every checkout and virtual environment on the machine, and here a kernel
# compile in that shared cache twice failed ('at::vec has not been declared', with another checkout's artifacts in
# it) and passed once the cache was cleared. Torch keeps its precompiled headers in the default directory whatever
# this says; their names hash the include paths, so each environment has its own.
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$ROOT/.cache/torchinductor}"
exec "$ROOT/.venv/bin/python" -m pytest tests -q -ra "$@"
