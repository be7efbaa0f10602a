#!/usr/bin/env bash
# Create (or refresh) the project environment in .venv at the repo root.
#
# Idempotent: a stamp keyed on this script, requirements.txt and the build files (pyproject.toml, and setup.py
# where there is one) makes a second call a no-op.
# mmcv 2.1.0 has no wheel for torch 2.14, so it is compiled once and the wheel is cached in
# $MMDET_RLA_CACHE (default ~/.cache/mmdet_rla), keyed on the torch and Python versions.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
CACHE="${MMDET_RLA_CACHE:-$HOME/.cache/mmdet_rla}"
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

stamp_key() {
  local file
  for file in tools/setup_env.sh requirements.txt pyproject.toml setup.py; do
    if [[ -f "$ROOT/$file" ]]; then cat "$ROOT/$file"; fi
  done | sha256sum | cut -d' ' -f1
}
STAMP="$VENV/.mmdet_rla_setup_stamp"
if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_key)" ]]; then
  log "environment up to date ($VENV)"
  exit 0
fi

if [[ ! -x "$PY" ]]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
PIP=(pip_quiet)
# pip warns once per package about local index folders that do not exist on every machine: hide only that.
pip_quiet() { "$PY" -m pip --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
log "installing build tools and torch $TORCH_VERSION / torchvision $TORCHVISION_VERSION"
"${PIP[@]}" install -q --upgrade "pip<26" "setuptools>=77,<81" wheel ninja
"${PIP[@]}" install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
"${PIP[@]}" install -q "mmengine==0.10.7" "numpy" "opencv-python" "addict" "yapf" "packaging" "pyyaml" "psutil"

PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEELDIR="$CACHE/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG-$(uname -m)"
if ! ls "$WHEELDIR"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
  log "building mmcv $MMCV_VERSION with compiled ops (about 5 minutes on 2 cores; cached in $WHEELDIR)"
  BUILD="$(mktemp -d)"
  trap 'rm -rf "$BUILD"' EXIT
  # --no-build-isolation: mmcv's setup.py needs pkg_resources even to report its metadata.
  "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation -d "$BUILD" "mmcv==$MMCV_VERSION"
  tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
  SRC="$BUILD/mmcv-$MMCV_VERSION"
  # torch 2.14's headers need C++20; mmcv's setup.py appends -std=c++17 to every compile line.
  sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
  grep -q 'c++20' "$SRC/setup.py" || { echo "mmcv setup.py no longer carries -std=c++17: check the patch" >&2; exit 1; }
  # CFLAGS replaces Python's defaults: keep -O3 (RoI ops 2x slower without) and -g0 (32 MB of symbols with).
  (cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
     CFLAGS="-DNDEBUG -fwrapv -O3 -g0" \
     "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$BUILD/dist" .)
  mkdir -p "$WHEELDIR"
  cp "$BUILD"/dist/mmcv-*.whl "$WHEELDIR/"
  rm -rf "$BUILD"; trap - EXIT
else
  log "using cached mmcv wheel from $WHEELDIR"
fi
"${PIP[@]}" install -q "$WHEELDIR"/mmcv-"$MMCV_VERSION"-*.whl
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
stamp_key > "$STAMP"
log "environment ready: $VENV"
