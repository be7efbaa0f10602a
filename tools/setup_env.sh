#!/usr/bin/env bash
# Create (or refresh) the project environment in .venv at the repo root.
#
#   bash tools/setup_env.sh          set up (a no-op when up to date)
#   bash tools/setup_env.sh --plan   print what it would do, one line per decision, and change nothing
#
# mmcv 2.1.0 has no wheel for torch 2.14, so it is compiled once and the wheel is cached in $MMDET_RLA_CACHE
# (default ~/.cache/mmdet_rla), keyed on mmcv, torch (with its CUDA build), Python, the machine and the ops it
# carries. Its ops (docs/installation.md):
#   MMDET_RLA_MMCV_CUDA=auto (default)  CUDA ops where torch sees a GPU, CPU-only ops elsewhere (where a CUDA
#                                       wheel is cached, it is installed instead: its CPU ops are the same)
#   MMDET_RLA_MMCV_CUDA=1               CUDA ops, also without a GPU (a login node building for compute nodes)
#   MMDET_RLA_MMCV_CUDA=0               CPU-only ops, also on a GPU machine (nms on CUDA tensors then fails)
#   TORCH_CUDA_ARCH_LIST                the GPU architectures to compile for (default: the visible GPUs', else
#                                       those torch's own CUDA 13 wheel carries: 7.5 8.0 8.6 9.0 10.0 12.0)
#   MMDET_RLA_NVCC=auto|system|registry which nvcc compiles them (auto: a system toolkit of torch's CUDA major
#                                       version, else the registry's, installed into the environment)
# Idempotent: a stamp keyed on the setup's files and the inputs of the ops decision makes a second call a no-op.
# The decisions are taken by tools/setup_plan.py, the build is tools/mmcv_build.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
CACHE="${MMDET_RLA_CACHE:-$HOME/.cache/mmdet_rla}"
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
PLAN=(tools/setup_plan.py --cache "$CACHE" --mmcv-version "$MMCV_VERSION")

case "${1:-}" in
  "") ;;
  --plan)
    # The system python where the environment does not exist yet: the plan needs the standard library only.
    PLANPY="$PY"; [[ -x "$PY" ]] || PLANPY="$(command -v python3)"
    cd "$ROOT"
    exec "$PLANPY" -B "${PLAN[0]}" plan "${PLAN[@]:1}" --python "$PY" --fallback-python "$PLANPY" \
      --torch-pin "$TORCH_VERSION"
    ;;
  -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "setup_env.sh: error: unknown argument '$1' (allowed: --plan, --help)" >&2; exit 1 ;;
esac

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
cd "$ROOT"
# Bad settings stop here, before anything is installed (the same checks run again with torch's facts below).
"$(command -v python3)" -B tools/setup_plan.py check

STAMP="$VENV/.mmdet_rla_setup_stamp"
if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$("$PY" -B tools/setup_plan.py stamp)" ]]; then
  log "environment up to date ($VENV)"
  exit 0
fi

if [[ ! -x "$PY" ]]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
# shellcheck source=tools/mmcv_build.sh
source "$ROOT/tools/mmcv_build.sh"
PIP=(mmcv_pip "$PY")
log "installing build tools and torch $TORCH_VERSION / torchvision $TORCHVISION_VERSION"
"${PIP[@]}" install -q --upgrade "pip<26" "setuptools>=77,<81" wheel ninja
"${PIP[@]}" install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
# mmcv's own requirements (its wheel is installed with --no-deps below).
"${PIP[@]}" install -q "mmengine==0.10.7" "numpy" "opencv-python" "addict" "yapf" "packaging" "pyyaml" "psutil" \
  "Pillow"

DECISION="$("$PY" -B "${PLAN[0]}" shell "${PLAN[@]:1}" --python "$PY")"
eval "$DECISION"
log "$MMCV_SUMMARY"
while IFS= read -r note; do [[ -z "$note" ]] || log "$note"; done <<< "$MMCV_NOTES"
if [[ -n "$MMCV_REUSE_DIR" ]]; then
  WHEELDIR="$MMCV_REUSE_DIR"
  log "using the cached mmcv wheel from $WHEELDIR ($MMCV_REUSE_TEXT)"
  INSTALLED_TEXT="$MMCV_REUSE_TEXT"
else
  WHEELDIR="$MMCV_WHEELDIR"
  INSTALLED_TEXT="$MMCV_FLAVOUR_TEXT"
  BUILD="$(mktemp -d)"
  trap 'rm -rf "$BUILD"' EXIT
  CUDA_HOME_BUILD=""
  if [[ "$MMCV_FLAVOUR" == cuda ]]; then
    if [[ "$NVCC_KIND" == registry ]]; then
      log "installing the registry's nvcc into the environment: $NVCC_PACKAGES"
      CUDA_HOME_BUILD="$(mmcv_registry_cuda_home "$PY" "$MMCV_CUDA" "$NVCC_PACKAGES" "$BUILD")"
    else
      CUDA_HOME_BUILD="$NVCC_ROOT"
    fi
    log "nvcc: $("$CUDA_HOME_BUILD/bin/nvcc" --version | grep -o 'V[0-9][0-9.]*' | head -1) (CUDA_HOME=$CUDA_HOME_BUILD for the build)"
    log "building mmcv $MMCV_VERSION with CUDA ops for $MMCV_ARCH_LIST (about 20 minutes per architecture on 2" \
        "cores; cached in $WHEELDIR)"
  else
    log "building mmcv $MMCV_VERSION with CPU-only ops (5-7 minutes on 2 cores; cached in $WHEELDIR)"
  fi
  mmcv_build_wheel "$PY" "$MMCV_VERSION" "$MMCV_FLAVOUR" "$MMCV_ARCH_LIST" "$CUDA_HOME_BUILD" "$WHEELDIR" "$BUILD"
  log "built $(cd "$WHEELDIR" && ls mmcv-"$MMCV_VERSION"-*.whl) ($(du -h "$WHEELDIR"/mmcv-"$MMCV_VERSION"-*.whl | cut -f1)); $(grep '^built' "$WHEELDIR/BUILD_INFO")"
  rm -rf "$BUILD"; trap - EXIT
fi
# --force-reinstall: an mmcv of the same version but other ops may be installed (pip would keep it).
"${PIP[@]}" install -q --no-deps --force-reinstall "$WHEELDIR"/mmcv-"$MMCV_VERSION"-*.whl
log "installing mmdet, mmpretrain and the rest"
"${PIP[@]}" install -q -r "$ROOT/requirements.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"
"$PY" - <<'PYCHECK'
import mmcv, mmdet, mmengine, torch
from mmcv.ops import nms, RoIAlign  # compiled ops must import
print(f"torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmdet {mmdet.__version__}")
PYCHECK
log "building the fused CPU kernels (mmdet_rla.ops; about 15 s, cached by PyTorch in \${TORCH_EXTENSIONS_DIR:-~/.cache/torch_extensions})"
"$PY" -c "from mmdet_rla import ops; import sys; sys.exit(0 if ops.load_library() else 1)" \
  || log "WARNING: the fused kernels could not be built; the layers use their PyTorch paths (slower on CPU)"
# The installed ops, and on a GPU machine nms and RoIAlign on every visible GPU against their CPU results.
CHECK=("$PY" -B tools/check_mmcv_ops.py)
[[ "$MMCV_MODE" == 0 ]] && CHECK+=(--allow-cpu-ops)
"${CHECK[@]}"
"$PY" -B tools/setup_plan.py stamp > "$STAMP"
log "environment ready: $VENV (mmcv $MMCV_VERSION ops: $INSTALLED_TEXT)"
