#!/bin/sh
# SPDX-License-Identifier: MIT
# Check that the shared library given as $1 exports only mqttmux_* functions (and the
# MQTTMUX_0.1 version node), and that each of them carries that version. TAP output.
set -u
lib=${1:?usage: check-exports.sh LIBRARY}
syms=$(nm -D --defined-only "$lib" | awk '{ print $3 }') || { echo "not ok 1 nm failed"; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -v -e '^mqttmux_[a-z0-9_]*@@MQTTMUX_0\.1$' -e '^MQTTMUX_0\.1$' \
	-e '^mqttmux_[a-z0-9_]*$' || true)
echo "1..2"
if [ -n "$bad" ]; then
	echo "not ok 1 foreign symbols exported:"
	printf '%s\n' "$bad" | sed 's/^/# /'
else
	echo "ok 1 only mqttmux_* exported"
fi
n=$(printf '%s\n' "$syms" | grep -c '^mqttmux_' || true)
if [ "$n" -ge 10 ]; then
	echo "ok 2 $n mqttmux_* symbols"
else
	echo "not ok 2 only $n mqttmux_* symbols"
fi
