#!/usr/bin/env bash
# Python package check: `pip install ./python` offline into a virtual
# environment, and `import sparsetrain` finding an installed C library
# without SPT_LIBRARY, LD_LIBRARY_PATH or PYTHONPATH.
#   1. cmake --install the build into a scratch PREFIX.
#   2. A venv (--system-site-packages: Debian's setuptools, wheel and NumPy;
#      Debian's own python3 refuses pip installs, PEP 668).
#   3. pip install --no-build-isolation --no-index of a copy of python/ (the
#      source tree stays clean), three ways, each followed by a short training
#      run through the installed package from a directory outside the tree,
#      with the library found:
#      a. via the directory recorded at installation from pkg-config
#         (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig during pip install only);
#      b. via the directory recorded from SPT_LIBDIR (pip install only);
#      c. via pkg-config at import (nothing recorded; PKG_CONFIG_PATH at
#         import), the route of a library installed after the package.
# Takes some 20 s on 2 cores (no compilation; the build is brought up to date).
#
# Usage: .ci/check-python.sh [BUILD_DIR]   (default: build; configured as
#        Release and built if it has no CMakeCache.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

fail() { echo "check-python: FAIL: $*" >&2; exit 1; }
note() { echo "check-python: $*"; }

build="${1:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
python=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/spt-check-python.XXXXXX")
trap 'rm -rf "$work"' EXIT

JOBS=$(nproc 2>/dev/null || echo 2)
if [ ! -f "$build/CMakeCache.txt" ]; then
  note "configuring $build (Release)"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 \
    || { cat "$work/configure.log"; fail "configuring $build"; }
fi
cmake --build "$build" -j"$JOBS" >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; fail "building $build"; }

# ---- the C library in a prefix ----------------------------------------------------------
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
so=$(find "$prefix" -name 'libsparsetrain.so.[0-9]*' -type l | head -n1)
[ -n "$so" ] || fail "no libsparsetrain.so.<major> under $prefix"
libdir=$(dirname "$so")
soname=$(basename "$so")
[ -f "$libdir/pkgconfig/sparsetrain.pc" ] || fail "$libdir/pkgconfig/sparsetrain.pc not installed"
version=$(sed -n 's/^Version: *//p' "$libdir/pkgconfig/sparsetrain.pc")
note "library $libdir/$soname, version $version"

# ---- a virtual environment and the package ----------------------------------------------
"$python" -m venv --system-site-packages "$work/venv" >"$work/venv.log" 2>&1 \
  || { cat "$work/venv.log"; fail "python3 -m venv (Debian: apt-get install python3-venv)"; }
vpy="$work/venv/bin/python"
cp -r "$root/python" "$work/src"  # pip builds in its source directory: keep the tree clean
rm -rf "$work/src/build" "$work/src"/*.egg-info

# The environment of every step: nothing that would point Python or the loader
# at the library or at the source tree.
clean_env() {
  env -u SPT_LIBRARY -u SPT_LIBDIR -u LD_LIBRARY_PATH -u PYTHONPATH -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR \
    PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 "$@"
}

install_package() {  # install_package NAME-OF-ROUTE [VAR=VALUE...]
  local route=$1; shift
  clean_env "$@" "$vpy" -m pip install --no-build-isolation --no-index --no-deps --force-reinstall -q "$work/src" \
    >"$work/pip-$route.log" 2>&1 || { cat "$work/pip-$route.log"; fail "pip install ($route)"; }
}

# A short training run through the installed package; prints where the library came from.
cat >"$work/run.py" <<'EOF'
import os
import random
import sys

import sparsetrain as spt

expect_lib, expect_version, venv = sys.argv[1:4]
here = os.path.realpath(os.path.dirname(spt.__file__))
assert here.startswith(os.path.realpath(venv)), "sparsetrain imported from %s, not the venv" % here
assert spt.version() == expect_version, (spt.version(), expect_version)
rng = random.Random(1)
centres = [[rng.gauss(0, 1) for _ in range(8)] for _ in range(3)]
xs = [[c + rng.gauss(0, 0.3) for c in centres[i % 3]] for i in range(96)]
ys = [i % 3 for i in range(96)]
ds = spt.Dataset.from_arrays(xs, ys)
batcher = spt.Batcher(ds, 16, seed=1)
epochs = 5
trainer = spt.Trainer(spt.Model.mlp([8, 32, 3], seed=1), spt.Optimizer("sgd", lr=0.1, momentum=0.9),
                      spt.LRSchedule("cosine", base=0.1), spt.MethodConfig("rigl", sparsity=0.7, delta_t=4),
                      total_steps=epochs * len(batcher), seed=1)
losses = [trainer.train_epoch(batcher)[0] for _ in range(epochs)]
loss, acc = trainer.evaluate(ds)
assert losses[-1] < losses[0] and acc > 0.8, (losses, acc)
loaded = spt.library_path
if os.path.isabs(loaded):
    loaded = os.path.realpath(loaded)
assert loaded == os.path.realpath(expect_lib), "library %s, expected %s" % (spt.library_path, expect_lib)
print("trained %d steps: loss %.3f -> %.3f, accuracy %.2f, library %s"
      % (trainer.steps_done, losses[0], losses[-1], acc, spt.library_path))
EOF

run_training() {  # run_training ROUTE [VAR=VALUE...]
  local route=$1; shift
  (cd "$work" && clean_env "$@" "$vpy" "$work/run.py" "$libdir/$soname" "$version" "$work/venv") \
    >"$work/run-$route.log" 2>&1 || { cat "$work/run-$route.log"; fail "training through the package ($route)"; }
  note "$route: $(cat "$work/run-$route.log")"
}

recorded() {  # LIBDIR of the installed sparsetrain/_installed.py (read without importing the package)
  (cd "$work" && clean_env "$vpy" -c '
import importlib.util, os
ns = {}
with open(os.path.join(importlib.util.find_spec("sparsetrain").submodule_search_locations[0], "_installed.py")) as f:
    exec(f.read(), ns)
print(ns["LIBDIR"])' 2>/dev/null) || echo "(no _installed.py)"
}

# a. recorded at installation from pkg-config
install_package pkgconfig PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(recorded)" = "$libdir" ] || fail "pip install recorded '$(recorded)', expected $libdir (from pkg-config)"
run_training "recorded from pkg-config"
version_installed=$(cd "$work" && clean_env "$vpy" -m pip show sparsetrain | sed -n 's/^Version: //p')
[ "$version_installed" = "$version" ] || fail "the package's version is $version_installed, the library's $version"
if [ -n "$(cd "$work" && clean_env "$vpy" -m pip show -f sparsetrain | grep -E 'tests/|examples/')" ]; then
  fail "the installed package holds tests or examples"
fi

# b. recorded at installation from SPT_LIBDIR (pkg-config finds nothing)
install_package libdir SPT_LIBDIR="$libdir" PKG_CONFIG_LIBDIR="$work/empty"
[ "$(recorded)" = "$libdir" ] || fail "pip install recorded '$(recorded)', expected $libdir (SPT_LIBDIR)"
run_training "recorded from SPT_LIBDIR"

# c. nothing recorded: pkg-config at import
install_package none PKG_CONFIG_LIBDIR="$work/empty"
[ "$(recorded)" = "None" ] || fail "pip install recorded '$(recorded)' without a library to find"
if ldconfig -p 2>/dev/null | grep -qF "$soname"; then
  note "pkg-config at import: skipped ($soname is on the system's library path, which comes first)"
else
  run_training "pkg-config at import" PKG_CONFIG_PATH="$libdir/pkgconfig"
  if (cd "$work" && clean_env "$vpy" -c 'import sparsetrain') >"$work/missing.log" 2>&1; then
    fail "import sparsetrain succeeded with no library to find"
  fi
  grep -q "^ImportError: sparsetrain: cannot load libsparsetrain" "$work/missing.log" \
    || { cat "$work/missing.log"; fail "unclear ImportError"; }
  note "without a library to find: $(grep -m1 '^ImportError' "$work/missing.log")"
fi

note "OK: pip install ./python offline; the installed package finds the installed library"
