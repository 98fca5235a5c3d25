#!/usr/bin/env bash
# Builds bench/uws/server.cpp into OUT (default bin/uws) against a
# uWebSockets checkout the user points at; neither uWebSockets nor uSockets
# is part of this repository (see bench/uws/README.md).
#
#   UWS_DIR=/path/to/uWebSockets [USOCKETS_DIR=/path/to/uSockets] bench/uws/build.sh [OUT]
#
# USOCKETS_DIR defaults to UWS_DIR/uSockets (its git submodule). Built
# without TLS (-DLIBUS_NO_SSL) and without zlib (-DUWS_NO_ZLIB: the node's
# comparison runs without compression), -O3 -march=native and LTO as
# uWebSockets' own build does; object files go to a temporary directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-bin/uws}
: "${UWS_DIR:?set UWS_DIR to a uWebSockets checkout (github.com/uNetworking/uWebSockets)}"
USOCKETS_DIR=${USOCKETS_DIR:-$UWS_DIR/uSockets}
if [ ! -f "$UWS_DIR/src/App.h" ]; then
	echo "bench/uws/build.sh: $UWS_DIR/src/App.h not found: UWS_DIR must be a uWebSockets checkout" >&2
	exit 2
fi
if [ ! -f "$USOCKETS_DIR/src/libusockets.h" ]; then
	echo "bench/uws/build.sh: $USOCKETS_DIR/src/libusockets.h not found: set USOCKETS_DIR to a uSockets checkout (or check out uWebSockets' submodule)" >&2
	exit 2
fi
CC=${CC:-gcc}
CXX=${CXX:-g++}
obj=$(mktemp -d)
trap 'rm -rf "$obj"' EXIT
flags=(-O3 -march=native -flto=auto -DLIBUS_NO_SSL)
(cd "$obj" && "$CC" "${flags[@]}" -std=c11 -I"$USOCKETS_DIR/src" -c \
	"$USOCKETS_DIR"/src/*.c "$USOCKETS_DIR"/src/eventing/*.c "$USOCKETS_DIR"/src/crypto/*.c)
mkdir -p "$(dirname "$out")"
"$CXX" "${flags[@]}" -DUWS_NO_ZLIB -std=c++20 -I"$UWS_DIR/src" -I"$USOCKETS_DIR/src" \
	"$here/server.cpp" "$obj"/*.o -o "$out"
echo "bench/uws/build.sh: built $out (uWebSockets $(git -C "$UWS_DIR" rev-parse --short HEAD 2>/dev/null || echo "at $UWS_DIR"), uSockets $(git -C "$USOCKETS_DIR" rev-parse --short HEAD 2>/dev/null || echo "at $USOCKETS_DIR"))"
