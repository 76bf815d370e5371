#!/usr/bin/env bash
# Installation check: install a Release build into a scratch prefix and use it
# the way downstream projects do.
#   1. cmake --install into PREFIX; the expected files and library symlinks exist.
#   2. The shared library: SONAME libsparsetrain.so.<major>, no RPATH into the
#      build tree, and it exports only spt_* symbols.
#   3. tests/consumer/cmake: find_package(sparsetrain) with CMAKE_PREFIX_PATH,
#      shared and static targets, built and run; a request for the next major
#      version must be refused.
#   4. tests/consumer/pkgconfig: built with pkg-config (PKG_CONFIG_PATH) against
#      the shared (run with LD_LIBRARY_PATH) and the static library, and run.
#
# Usage: .ci/check-install.sh [BUILD_DIR [PREFIX]]
#   BUILD_DIR  a configured build tree (default: build). Configured as Release
#              and built if it has no CMakeCache.txt; brought up to date otherwise.
#   PREFIX     install prefix (default: a fresh temporary directory, removed at
#              the end). An existing PREFIX must be empty or made by an earlier
#              run of this script; it is emptied first and kept afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

fail() { echo "check-install: FAIL: $*" >&2; exit 1; }
note() { echo "check-install: $*"; }

build="${1:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
prefix="${2:-}"
work=$(mktemp -d "${TMPDIR:-/tmp}/spt-check-install.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

marker=".sparsetrain-check-install"
if [ -z "$prefix" ]; then
  prefix="$work/prefix"
else
  case "$prefix" in /*) ;; *) prefix="$root/$prefix" ;; esac
  if [ -e "$prefix" ]; then
    if [ -n "$(ls -A "$prefix")" ] && [ ! -e "$prefix/$marker" ]; then
      fail "$prefix exists, is not empty and was not made by this script; not touching it"
    fi
    rm -rf "$prefix"
  fi
fi
mkdir -p "$prefix"
touch "$prefix/$marker"

JOBS=$(nproc 2>/dev/null || echo 2)

# ---- build and install ------------------------------------------------------------
if [ ! -f "$build/CMakeCache.txt" ]; then
  note "configuring $build (Release)"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
[ "$build_type" = Release ] || note "warning: $build is a '$build_type' build, not Release"
cmake --build "$build" -j"$JOBS" >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; fail "building $build"; }
note "installing $build into $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }

# ---- files --------------------------------------------------------------------------
hdr="$prefix/include/sparsetrain/core.h"
[ -f "$prefix/include/sparsetrain.h" ] || fail "include/sparsetrain.h not installed"
[ -f "$hdr" ] || fail "include/sparsetrain/core.h not installed"
for h in "$root"/include/sparsetrain/*.h; do
  # mpi.h belongs to the MPI component, installed when the build has it.
  [ "$(basename "$h")" = mpi.h ] && [ ! -e "$build/libsparsetrain_mpi.so" ] && continue
  [ -f "$prefix/include/sparsetrain/$(basename "$h")" ] || fail "include/sparsetrain/$(basename "$h") not installed"
done
major=$(sed -n 's/^#define SPT_VERSION_MAJOR \([0-9]*\)$/\1/p' "$hdr")
minor=$(sed -n 's/^#define SPT_VERSION_MINOR \([0-9]*\)$/\1/p' "$hdr")
patch=$(sed -n 's/^#define SPT_VERSION_PATCH \([0-9]*\)$/\1/p' "$hdr")
[ -n "$major" ] && [ -n "$minor" ] && [ -n "$patch" ] || fail "cannot read the version from $hdr"
version="$major.$minor.$patch"
note "version $version"

real=$(find "$prefix" -name "libsparsetrain.so.$version" -type f | head -n1)
[ -n "$real" ] || fail "libsparsetrain.so.$version not installed"
libdir=$(dirname "$real")
note "libdir $libdir"
[ -L "$libdir/libsparsetrain.so.$major" ] || fail "symlink libsparsetrain.so.$major missing"
[ "$(readlink "$libdir/libsparsetrain.so.$major")" = "libsparsetrain.so.$version" ] \
  || fail "libsparsetrain.so.$major -> $(readlink "$libdir/libsparsetrain.so.$major"), expected libsparsetrain.so.$version"
[ -L "$libdir/libsparsetrain.so" ] || fail "symlink libsparsetrain.so missing"
[ "$(readlink "$libdir/libsparsetrain.so")" = "libsparsetrain.so.$major" ] \
  || fail "libsparsetrain.so -> $(readlink "$libdir/libsparsetrain.so"), expected libsparsetrain.so.$major"
[ -f "$libdir/libsparsetrain.a" ] || fail "libsparsetrain.a not installed"
for f in sparsetrainConfig.cmake sparsetrainConfigVersion.cmake sparsetrainTargets.cmake; do
  [ -f "$libdir/cmake/sparsetrain/$f" ] || fail "$libdir/cmake/sparsetrain/$f not installed"
done
[ -f "$libdir/pkgconfig/sparsetrain.pc" ] || fail "$libdir/pkgconfig/sparsetrain.pc not installed"
if grep -rq -- "$build" "$libdir/cmake/sparsetrain" "$libdir/pkgconfig/sparsetrain.pc"; then
  grep -rn -- "$build" "$libdir/cmake/sparsetrain" "$libdir/pkgconfig/sparsetrain.pc" >&2
  fail "installed package files refer to the build tree"
fi

# ---- the shared library: SONAME, RPATH, exported symbols ---------------------------------
so="$libdir/libsparsetrain.so.$version"
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "libsparsetrain.so.$major" ] || fail "SONAME is '$soname', expected libsparsetrain.so.$major"
note "SONAME $soname"
if readelf -d "$so" | grep -E '\((RPATH|RUNPATH)\)' | grep -qF -- "$build"; then
  fail "installed library keeps an RPATH into the build tree: $(readelf -d "$so" | grep -E 'RPATH|RUNPATH')"
fi

# nm -D prints "VALUE TYPE NAME[@VERSION]"; the linker's own markers are not API.
nm -D --defined-only "$so" | awk '
  { name = $NF; sub(/@.*/, "", name) }
  name ~ /^spt_/ { next }
  name == "_init" || name == "_fini" || name == "__bss_start" || name == "_edata" || name == "_end" { next }
  { print }' >"$work/foreign-symbols"
if [ -s "$work/foreign-symbols" ]; then
  echo "Symbols exported by libsparsetrain.so without the spt_ prefix:" >&2
  cat "$work/foreign-symbols" >&2
  fail "the shared library exports non-spt_ symbols (internal functions need no SPT_API; the library is built with hidden visibility)"
fi
nexport=$(nm -D --defined-only "$so" | awk '$NF ~ /^spt_/' | wc -l)
for sym in spt_version_string spt_version_number spt_status_string; do
  nm -D --defined-only "$so" | awk '{ n = $NF; sub(/@.*/, "", n); print n }' | grep -x "$sym" >/dev/null || fail "$sym is not exported"
done
note "libsparsetrain.so exports $nexport symbols, all spt_*"
# A shared library may be linked with undefined references; programs using it
# then fail to link. Our own names must all be defined inside.
nm -D --undefined-only "$so" | awk '{ n = $NF; sub(/@.*/, "", n) } n ~ /^spt/ { print "  " n }' >"$work/undefined"
if [ -s "$work/undefined" ]; then
  echo "libsparsetrain.so uses library-internal functions it does not define:" >&2
  cat "$work/undefined" >&2
  fail "undefined spt symbols in the shared library (a source file missing from src/?)"
fi

# Static library: global names outside spt_/spti_ can collide in users' programs.
# Reported, not fatal.
nm -g --defined-only "$libdir/libsparsetrain.a" 2>/dev/null | awk 'NF >= 3 && $3 !~ /^spt/ { print "  " $3 }' \
  | sort -u >"$work/static-foreign"
if [ -s "$work/static-foreign" ]; then
  note "warning: libsparsetrain.a defines global symbols without an spt prefix:"
  cat "$work/static-foreign"
fi

# ---- CMake consumer ---------------------------------------------------------------------
note "CMake consumer (find_package, CMAKE_PREFIX_PATH=$prefix)"
cbuild="$work/consumer-cmake"
cmake -S "$root/tests/consumer/cmake" -B "$cbuild" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
  -DSPT_EXPECT_VERSION="$major.$minor" >"$work/consumer-cmake.log" 2>&1 \
  || { cat "$work/consumer-cmake.log"; fail "configuring the CMake consumer"; }
found_dir=$(sed -n 's/^sparsetrain_DIR:PATH=//p' "$cbuild/CMakeCache.txt")
[ "$found_dir" = "$libdir/cmake/sparsetrain" ] || fail "find_package found sparsetrain in '$found_dir', not in $prefix"
cmake --build "$cbuild" -j"$JOBS" >"$work/consumer-cmake-build.log" 2>&1 \
  || { cat "$work/consumer-cmake-build.log"; fail "building the CMake consumer"; }
"$cbuild/consumer_shared" || fail "consumer_shared (CMake) failed"
"$cbuild/consumer_static" || fail "consumer_static (CMake) failed"
ldd "$cbuild/consumer_shared" | grep -F "libsparsetrain.so.$major" | grep -qF "$libdir/" \
  || fail "consumer_shared does not load libsparsetrain from $libdir: $(ldd "$cbuild/consumer_shared" | grep sparsetrain)"
if readelf -d "$cbuild/consumer_static" | grep -q 'libsparsetrain\.so'; then
  fail "consumer_static needs libsparsetrain.so"
fi

next="$((major + 1)).0"
if cmake -S "$root/tests/consumer/cmake" -B "$work/consumer-cmake-next" \
     -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
     -DSPT_EXPECT_VERSION="$next" >"$work/consumer-next.log" 2>&1; then
  fail "find_package(sparsetrain $next) accepted version $version"
fi
note "find_package(sparsetrain $next) refused, as it should"

# ---- pkg-config consumer ----------------------------------------------------------------
note "pkg-config consumer (PKG_CONFIG_PATH=$libdir/pkgconfig)"
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pc_prefix=$(pkg-config --variable=prefix sparsetrain)
[ "$pc_prefix" = "$prefix" ] || fail "sparsetrain.pc has prefix '$pc_prefix', expected $prefix"
[ "$(pkg-config --modversion sparsetrain)" = "$version" ] || fail "sparsetrain.pc has version $(pkg-config --modversion sparsetrain)"
pbuild="$work/consumer-pkgconfig"
"$root/tests/consumer/pkgconfig/build.sh" "$pbuild" || fail "building the pkg-config consumer"
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$pbuild/consumer_pc_shared" \
  || fail "consumer_pc_shared failed"
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$pbuild/consumer_pc_shared" \
  | grep -F "libsparsetrain.so.$major" | grep -qF "$libdir/" || fail "consumer_pc_shared does not load libsparsetrain from $libdir"
"$pbuild/consumer_pc_static" || fail "consumer_pc_static failed"
if readelf -d "$pbuild/consumer_pc_static" | grep -q 'libsparsetrain\.so'; then
  fail "consumer_pc_static needs libsparsetrain.so"
fi

# ---- the MPI component (when built) -----------------------------------------------------
if [ -e "$build/libsparsetrain_mpi.so" ]; then
  note "MPI component: libsparsetrain_mpi, find_package(... COMPONENTS mpi), pkg-config sparsetrain-mpi"
  [ -L "$libdir/libsparsetrain_mpi.so.$major" ] || fail "libsparsetrain_mpi.so.$major not installed"
  [ -f "$libdir/pkgconfig/sparsetrain-mpi.pc" ] || fail "sparsetrain-mpi.pc not installed"
  [ -f "$libdir/cmake/sparsetrain/sparsetrainMpiTargets.cmake" ] || fail "sparsetrainMpiTargets.cmake not installed"
  mbuild="$work/consumer-mpi"
  cmake -S "$root/tests/consumer/mpi" -B "$mbuild" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON >"$work/consumer-mpi.log" 2>&1 \
    && cmake --build "$mbuild" >>"$work/consumer-mpi.log" 2>&1 || { cat "$work/consumer-mpi.log"; fail "the CMake MPI consumer"; }
  mpi_env=(env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none)
  "${mpi_env[@]}" "$mbuild/consumer_mpi" || fail "consumer_mpi (CMake) failed"
  # shellcheck disable=SC2046  # pkg-config output is meant to be word-split
  cc -Wall -Wextra -Werror $(pkg-config --cflags sparsetrain-mpi) "$root/tests/consumer/mpi/main.c" \
    -o "$work/consumer_mpi_pc" $(pkg-config --libs sparsetrain-mpi) || fail "building the pkg-config MPI consumer"
  LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "${mpi_env[@]}" "$work/consumer_mpi_pc" \
    || fail "consumer_mpi (pkg-config) failed"
fi

note "OK: install layout, SONAME, exported symbols, CMake and pkg-config consumers"
