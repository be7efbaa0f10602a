# Sourced by tools/setup_env.sh and tools/gpu_wheels.sh: compile mmcv's wheel with its ops, CPU-only or CUDA.
# The decisions (which ops, which architectures, which nvcc, which cache folder) come from tools/setup_plan.py;
# this file only carries them out.

# mmcv_pip PY ARGS...: pip of the environment whose python is PY, quiet about local index folders that do not
# exist on every machine (pip warns once per package).
mmcv_pip() {
  local py="$1"; shift
  "$py" -m pip --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

# mmcv_registry_cuda_home PY CUDA PACKAGES WORKDIR: install the registry's nvcc PACKAGES (space-separated) into
# the environment of PY and print a CUDA_HOME for the build, made in WORKDIR. The packages put nvcc and the
# headers in site-packages/nvidia/cu<major>/ with the libraries in lib/; torch's extension builder links
# -L$CUDA_HOME/lib64 -lcudart, so CUDA_HOME is a folder of links to that one with lib64/ holding the libraries
# and the libcudart.so link that the packages lack. The environment itself is left as pip made it.
mmcv_registry_cuda_home() {
  local py="$1" cuda="$2" packages="$3" work="$4" site root home entry
  # shellcheck disable=SC2086  # PACKAGES is a space-separated list of requirement strings
  mmcv_pip "$py" install -q $packages >&2
  site="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  root="$site/nvidia/cu${cuda%%.*}"
  if [[ ! -x "$root/bin/nvcc" ]]; then
    echo "setup: error: the registry's packages ($packages) did not install $root/bin/nvcc" >&2
    return 1
  fi
  home="$work/cuda-home"
  mkdir -p "$home/lib64"
  for entry in "$root"/*; do
    [[ "$(basename "$entry")" == lib ]] || ln -s "$entry" "$home/$(basename "$entry")"
  done
  for entry in "$root"/lib/*; do ln -s "$entry" "$home/lib64/"; done
  [[ -e "$home/lib64/libcudart.so" ]] || ln -s "$root/lib/libcudart.so.${cuda%%.*}" "$home/lib64/libcudart.so"
  ln -s lib64 "$home/lib"
  printf '%s\n' "$home"
}

# mmcv_torch_cuda_include PY CUDA: the headers of torch's own CUDA libraries (cuBLAS, cuSPARSE, cuSOLVER, ...),
# which the registry's nvidia packages put in site-packages/nvidia/cu<major>/include. torch's CUDA headers include
# them (ATen/cuda/CUDAContextLight.h: cusparse.h), and a system toolkit may lack them (one with nvcc and cudart
# alone did); CPATH adds them after the toolkit's own, for gcc and for nvcc's preprocessing. Empty where absent.
mmcv_torch_cuda_include() {
  "$1" -c 'import os, sys, sysconfig
path = os.path.join(sysconfig.get_paths()["purelib"], "nvidia", "cu" + sys.argv[1].split(".")[0], "include")
print(path if os.path.isdir(path) else "")' "$2"
}

# mmcv_cuda_preflight PY CUDA_HOME ARCH_LIST CPATH WORKDIR: in seconds, what would otherwise fail half an hour into
# the build: torch's CUDA headers preprocessed by this nvcc with these include paths, and a kernel compiled for
# the first architecture (nvcc, cicc and ptxas of one release).
mmcv_cuda_preflight() {
  local py="$1" cuda_home="$2" arches="$3" cpath="$4" work="$5" first includes
  mkdir -p "$work/preflight"
  printf '#include <ATen/cuda/CUDAContext.h>\n' > "$work/preflight/headers.cu"
  printf '__global__ void add_one(float* x) { x[threadIdx.x] += 1.f; }\n' > "$work/preflight/kernel.cu"
  includes="$(CUDA_HOME="$cuda_home" "$py" -c 'from torch.utils.cpp_extension import include_paths
print(" ".join("-I" + path for path in include_paths("cuda")))' 2>/dev/null)"
  # shellcheck disable=SC2086  # INCLUDES is a list of -I flags
  CPATH="$cpath" "$cuda_home/bin/nvcc" -std=c++20 -E -x cu $includes "$work/preflight/headers.cu" -o /dev/null \
    || { echo "setup: error: nvcc ($cuda_home) cannot preprocess torch's CUDA headers (above): a header is missing" >&2; return 1; }
  first="${arches%%;*}"; first="${first%+PTX}"; first="${first/./}"
  "$cuda_home/bin/nvcc" -std=c++20 -gencode="arch=compute_${first%a}${first//[0-9]/},code=sm_$first" -c \
    "$work/preflight/kernel.cu" -o "$work/preflight/kernel.o" \
    || { echo "setup: error: nvcc ($cuda_home) cannot compile a kernel for sm_$first (above)" >&2; return 1; }
}

# mmcv_build_wheel PY MMCV_VERSION FLAVOUR ARCH_LIST CUDA_HOME WHEELDIR WORKDIR: download mmcv's source, patch
# it for torch >= 2.10's C++20 headers and build its wheel with CPU-only ops (FLAVOUR cpu: the GPUs are hidden
# from mmcv's setup.py, which compiles CUDA ops whenever torch sees a GPU) or CUDA ops for ARCH_LIST with the
# nvcc under CUDA_HOME (FLAVOUR cuda). The wheel lands in WHEELDIR, moved there whole (a cache shared between
# machines never holds half a wheel), with BUILD_INFO beside it.
mmcv_build_wheel() {
  local py="$1" version="$2" flavour="$3" arches="$4" cuda_home="$5" wheeldir="$6" work="$7" src start
  start=$(date +%s)
  # --no-build-isolation: mmcv's setup.py needs pkg_resources even to report its metadata.
  mmcv_pip "$py" download -q --no-deps --no-binary :all: --no-build-isolation -d "$work" "mmcv==$version"
  tar -xzf "$work/mmcv-$version.tar.gz" -C "$work"
  src="$work/mmcv-$version"
  # torch's headers need C++20; mmcv's setup.py appends -std=c++17 to every compile line (nvcc's too).
  sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  grep -q 'c++20' "$src/setup.py" || { echo "setup: error: mmcv's setup.py no longer carries -std=c++17: check the patch" >&2; return 1; }
  # CFLAGS replaces Python's defaults: keep -O3 (RoI ops 2x slower without) and -g0 (32 MB of symbols with).
  if [[ "$flavour" == cuda ]]; then
    local cpath
    cpath="$(mmcv_torch_cuda_include "$py" "$("$py" -c 'import torch; print(torch.version.cuda)')")"
    cpath="$cpath${CPATH:+:$CPATH}"
    mmcv_cuda_preflight "$py" "$cuda_home" "$arches" "$cpath" "$work"
    (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$arches" CUDA_HOME="$cuda_home" \
       PATH="$cuda_home/bin:$PATH" CPATH="$cpath" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
       CFLAGS="-DNDEBUG -fwrapv -O3 -g0" \
       mmcv_pip "$py" wheel -q --no-build-isolation --no-deps -w "$work/dist" .)
  else
    (cd "$src" && CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
       CFLAGS="-DNDEBUG -fwrapv -O3 -g0" \
       mmcv_pip "$py" wheel -q --no-build-isolation --no-deps -w "$work/dist" .)
  fi
  mkdir -p "$wheeldir"
  local wheel
  wheel="$(basename "$work"/dist/mmcv-*.whl)"
  cp "$work/dist/$wheel" "$wheeldir/.$wheel.partial.$$"
  mv "$wheeldir/.$wheel.partial.$$" "$wheeldir/$wheel"
  {
    echo "flavour: $flavour${arches:+ (TORCH_CUDA_ARCH_LIST=$arches)}"
    [[ "$flavour" == cuda ]] && echo "nvcc: $("$cuda_home/bin/nvcc" --version | grep -o 'V[0-9][0-9.]*' | head -1) ($cuda_home)"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) in $(( $(date +%s) - start )) s, MAX_JOBS=${MAX_JOBS:-$(nproc)}"
    echo "against: $("$py" -c 'import sys, torch; print("torch", torch.__version__, "python", sys.version.split()[0])')"
  } > "$wheeldir/BUILD_INFO"
}
