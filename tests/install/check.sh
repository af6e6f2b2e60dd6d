#!/bin/sh
# Installs the build in $1 into a scratch prefix, then builds and runs the
# consumer project twice: with find_package(ftrt) and with pkg-config.
set -eu
build=$1
src=$(cd "$(dirname "$0")" && pwd)/consumer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/app"
# shellcheck disable=SC2046
cc -std=c11 "$src/app.c" -o "$work/app-pc" \
    $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs ftrt)
"$work/app-pc"
