#!/usr/bin/env bash
# Builds tests/consumer/cmake/main.c against an installed libsparsetrain with
# pkg-config only, the way a Makefile-based downstream project would:
#   shared:  cc $(pkg-config --cflags sparsetrain) main.c $(pkg-config --libs sparsetrain)
#   static:  the same with --static (Libs.private, Requires.private) and the .a
# Usage: tests/consumer/pkgconfig/build.sh OUTDIR
# PKG_CONFIG_PATH must find sparsetrain.pc; CC defaults to cc.
# Writes OUTDIR/consumer_pc_shared and OUTDIR/consumer_pc_static.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUTDIR}"
mkdir -p "$out"
CC="${CC:-cc}"
PKG_CONFIG="${PKG_CONFIG:-pkg-config}"
src="$here/../cmake/main.c"
warn=(-std=c11 -Wall -Wextra -Werror)

"$PKG_CONFIG" --exists --print-errors sparsetrain
echo "pkg-config sparsetrain $("$PKG_CONFIG" --modversion sparsetrain)"

# Shared. Libraries after the source: linkers that default to --as-needed drop
# libraries named before the objects that use them.
cflags=$("$PKG_CONFIG" --cflags sparsetrain)
libs=$("$PKG_CONFIG" --libs sparsetrain)
echo "+ $CC $cflags main.c $libs"
# shellcheck disable=SC2086  # pkg-config output is meant to be word-split
"$CC" "${warn[@]}" -DSPT_CONSUMER_EXPECT_SHARED $cflags "$src" -o "$out/consumer_pc_shared" $libs

# Static libsparsetrain (its dependencies stay shared): -l:libsparsetrain.a picks
# the archive even though libsparsetrain.so sits next to it.
static_libs=$("$PKG_CONFIG" --libs --static sparsetrain)
static_libs="${static_libs//-lsparsetrain/-l:libsparsetrain.a}"
echo "+ $CC $cflags -DSPT_STATIC main.c $static_libs"
# shellcheck disable=SC2086
"$CC" "${warn[@]}" -DSPT_CONSUMER_EXPECT_STATIC -DSPT_STATIC $cflags "$src" -o "$out/consumer_pc_static" $static_libs
