#!/usr/bin/env bash
# Wheels for a GPU machine without a package registry (the lent GPU machine: Python 3.12, torch 2.11.0+cu130,
# nvcc 13.0, the usual scientific packages installed). See docs/installation.md.
#
#   bash tools/gpu_wheels.sh            here (with the registry): build mmcv with CUDA ops for that machine's
#                                       Python and torch, and fetch the wheels it lacks, into .gpu_wheels/
#   bash tools/gpu_wheels.sh --check    here: install .gpu_wheels/ with --no-index into a fresh venv of that
#                                       Python with that torch and the packages such a machine has; import
#                                       everything and check that mmcv's ops report CUDA
#   bash tools/gpu_wheels.sh --install  there: install .gpu_wheels/ and this checkout into python3's
#                                       environment without a registry, then compare mmcv's nms and RoIAlign
#                                       on every GPU with the CPU (tools/check_mmcv_ops.py)
#
# Settings: GPU_WHEELS_PYTHON (a python of the target's version; default python3.12 on PATH, else pyenv's),
# GPU_WHEELS_TORCH (default 2.11.0), TORCH_CUDA_ARCH_LIST (default 9.0: the H100 and H200),
# GPU_WHEELS_DIR (default .gpu_wheels, gitignored), MMDET_RLA_CACHE (default ~/.cache/mmdet_rla: the build
# environment and the mmcv wheel, keyed like tools/setup_env.sh's), MMDET_RLA_NVCC (auto|system|registry).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MMDET_RLA_CACHE:-$HOME/.cache/mmdet_rla}"
OUT="${GPU_WHEELS_DIR:-$ROOT/.gpu_wheels}"
TORCH_VERSION="${GPU_WHEELS_TORCH:-2.11.0}"
PYVER=3.12
ARCHES="${TORCH_CUDA_ARCH_LIST:-9.0}"
MMCV_VERSION=2.1.0
# What the target lacks (it has torch, numpy, matplotlib, scipy, opencv-python-headless, pyyaml, rich, tqdm,
# six, einops, click, markdown, zipp, packaging, pillow, pytest, onnx, onnxruntime, onnxscript, tensorboard):
# mmcv (built here), the OpenMMLab packages and their small requirements that are not among those. Pinned to
# the versions checked with --check. setuptools < 81: mmengine imports pkg_resources, which 81 dropped.
PACKAGES=(
  mmengine==0.10.7 mmdet==3.3.0 mmpretrain==1.2.0
  addict==2.4.0 yapf==0.43.0 platformdirs==4.14.9 termcolor==3.3.0   # mmengine (yapf needs platformdirs)
  terminaltables==3.1.10 shapely==2.2.0 pycocotools==2.0.11           # mmdet
  mat4py==0.6.0 modelindex==0.0.2 model-index==0.1.11 ordered-set==4.1.0 importlib-metadata==8.9.0  # mmpretrain
  setuptools==80.10.2
)
# The packages --check installs from the registry to stand for what the target machine already has.
TARGET_HAS=(numpy matplotlib scipy opencv-python-headless pyyaml rich tqdm six einops click markdown zipp packaging
            pillow pytest psutil setuptools)
CARRY_LIMIT=$((64 * 1024 * 1024))

log() { printf '[gpu_wheels %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { echo "gpu_wheels.sh: error: $*" >&2; exit 1; }
# shellcheck source=tools/mmcv_build.sh
source "$ROOT/tools/mmcv_build.sh"

find_python() {
  local candidate
  for candidate in "${GPU_WHEELS_PYTHON:-}" "$(command -v python$PYVER || true)" \
                   $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$PYVER.*/bin/python$PYVER 2>/dev/null | sort -V -r); do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    if [[ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" == "$PYVER" ]]; then
      printf '%s\n' "$candidate"; return 0
    fi
    [[ -z "${GPU_WHEELS_PYTHON:-}" ]] || die "GPU_WHEELS_PYTHON=$GPU_WHEELS_PYTHON is not Python $PYVER"
  done
  die "no Python $PYVER found: set GPU_WHEELS_PYTHON to one (pyenv install $PYVER, say)"
}

# make_env DIR PACKAGES...: a venv of the target's Python at DIR with PACKAGES from the registry.
make_env() {
  local dir="$1" python; shift
  if [[ ! -x "$dir/bin/python" ]]; then
    python="$(find_python)"
    "$python" -m venv "$dir"
  fi
  mmcv_pip "$dir/bin/python" install -q --upgrade "pip<26"
  mmcv_pip "$dir/bin/python" install -q "$@"
}

check_torch() {  # PY: its torch must be TORCH_VERSION with CUDA
  local found
  found="$("$1" -c 'import torch; print(torch.__version__, torch.version.cuda)')"
  [[ "$found" == "$TORCH_VERSION"+cu*" "* && "$found" != *" None" ]] \
    || die "torch in $1 is '$found', not torch $TORCH_VERSION with CUDA"
  printf '%s\n' "$found"
}

build() {
  local env="$CACHE/gpu-wheels/buildenv-cp${PYVER/./}-torch$TORCH_VERSION" py decision
  log "build environment $env (Python $PYVER, torch $TORCH_VERSION; a large download the first time)"
  make_env "$env" "setuptools>=77,<81" wheel ninja numpy "torch==$TORCH_VERSION"
  py="$env/bin/python"
  log "torch $(check_torch "$py")"
  decision="$(cd "$ROOT" && MMDET_RLA_MMCV_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCHES" "$py" -B tools/setup_plan.py shell \
              --python "$py" --cache "$CACHE" --mmcv-version "$MMCV_VERSION")"
  eval "$decision"
  while IFS= read -r note; do [[ -z "$note" ]] || log "$note"; done <<< "$MMCV_NOTES"
  local wheeldir="${MMCV_REUSE_DIR:-$MMCV_WHEELDIR}"
  if [[ -n "$MMCV_REUSE_DIR" ]]; then
    log "using the cached mmcv wheel from $wheeldir ($MMCV_REUSE_TEXT)"
  else
    local work cuda_home
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    if [[ "$NVCC_KIND" == registry ]]; then
      log "installing the registry's nvcc into the build environment: $NVCC_PACKAGES"
      cuda_home="$(mmcv_registry_cuda_home "$py" "$MMCV_CUDA" "$NVCC_PACKAGES" "$work")"
    else
      cuda_home="$NVCC_ROOT"
    fi
    log "building mmcv $MMCV_VERSION ($MMCV_FLAVOUR_TEXT) with $("$cuda_home/bin/nvcc" --version | grep -o 'V[0-9][0-9.]*' | head -1) from $cuda_home (about 20 minutes per architecture on 2 cores)"
    mmcv_build_wheel "$py" "$MMCV_VERSION" cuda "$MMCV_ARCH_LIST" "$cuda_home" "$wheeldir" "$work"
    log "$(grep '^built' "$wheeldir/BUILD_INFO")"
    rm -rf "$work"; trap - EXIT
  fi
  rm -rf "$OUT"; mkdir -p "$OUT"
  cp "$wheeldir"/mmcv-"$MMCV_VERSION"-*.whl "$OUT/"
  log "fetching ${#PACKAGES[@]} wheels for Python $PYVER"
  mmcv_pip "$py" download -q --no-deps --only-binary=:all: -d "$OUT" "${PACKAGES[@]}"
  {
    echo "python=$PYVER"
    echo "torch=$("$py" -c 'import torch; print(torch.__version__)')"
    echo "mmcv_ops=$MMCV_FLAVOUR_TEXT"
  } > "$OUT/TARGET"
  (cd "$OUT" && sha256sum ./*.whl > SHA256SUMS)
  local total tree
  total=$(du -cb "$OUT"/* | tail -1 | cut -f1)
  tree=$(cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | awk '/\ttotal$/ {s += $1} END {print s + 0}')
  log "$OUT: $(ls "$OUT"/*.whl | wc -l) wheels, $((total / 1024)) KiB; with the working tree ($((tree / 1024)) KiB) $(( (total + tree) / 1024 / 1024 )) MiB of the 64 MiB a lent machine takes"
  (( total + tree < CARRY_LIMIT )) || die "the wheels and the working tree exceed 64 MiB"
}

check() {
  [[ -f "$OUT/TARGET" ]] || die "$OUT holds no wheels: run bash tools/gpu_wheels.sh first"
  local env="$CACHE/gpu-wheels/checkenv-cp${PYVER/./}-torch$TORCH_VERSION" py problems
  log "fresh check environment $env: torch $TORCH_VERSION and what the target machine has, from the registry"
  rm -rf "$env"
  make_env "$env" "torch==$TORCH_VERSION" "${TARGET_HAS[@]}"
  py="$env/bin/python"
  log "torch $(check_torch "$py"); installing $OUT with --no-index"
  mmcv_pip "$py" install -q --no-index --no-deps "$OUT"/*.whl
  # The one requirement left open: mmengine and mmcv name opencv-python, the machine has its headless twin (the
  # same cv2 module).
  problems="$(mmcv_pip "$py" check 2>&1 | grep -v -E 'requires opencv-python, which is not installed|^No broken' || true)"
  [[ -z "$problems" ]] || die "pip check after the --no-index install: $problems"
  (cd / && "$py" - <<'PYCHECK'
import mmcv, mmdet, mmengine, mmpretrain, pycocotools, torch
from mmcv.ops import RoIAlign, get_compiling_cuda_version, nms
import mmdet.models, mmpretrain.models  # noqa: F401  (import mmcv.ops' users)
print(f'python ok: torch {torch.__version__}, mmcv {mmcv.__version__} (ops compiled with CUDA '
      f'{get_compiling_cuda_version()}), mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, '
      f'mmpretrain {mmpretrain.__version__}')
assert get_compiling_cuda_version() != 'not available', 'mmcv has CPU-only ops'
PYCHECK
  )
  log "check passed: $OUT installs without a registry into Python $PYVER with torch $TORCH_VERSION"
}

install() {
  [[ -f "$OUT/TARGET" ]] || die "$OUT holds no wheels: carry it (run's carry: [\".gpu_wheels\"]) or build it first"
  local py="${GPU_WHEELS_TARGET_PYTHON:-python3}" want_py want_torch found
  want_py="$(sed -n 's/^python=//p' "$OUT/TARGET")"; want_torch="$(sed -n 's/^torch=//p' "$OUT/TARGET")"
  found="$("$py" -c 'import sys, torch; print("%d.%d" % sys.version_info[:2], torch.__version__)' 2>/dev/null || echo "? ?")"
  [[ "$found" == "$want_py $want_torch" ]] \
    || die "the wheels in $OUT are for Python $want_py with torch $want_torch; $py here has Python/torch '$found': build them for this one (GPU_WHEELS_TORCH=..., GPU_WHEELS_PYTHON=...)"
  log "installing $OUT into $("$py" -c 'import sys; print(sys.prefix)') without a registry"
  "$py" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check "$OUT"/*.whl
  "$py" -m pip install -q --no-index --no-deps --no-build-isolation --disable-pip-version-check -e "$ROOT"
  (cd "$ROOT" && "$py" -B tools/check_mmcv_ops.py)
  log "installed: mmcv ($(sed -n 's/^mmcv_ops=//p' "$OUT/TARGET")), mmengine, mmdet, mmpretrain and mmdet_rla"
}

case "${1:-}" in
  "") build ;;
  --check) check ;;
  --install) install ;;
  -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' ;;
  *) die "unknown argument '$1' (allowed: --check, --install, --help)" ;;
esac
