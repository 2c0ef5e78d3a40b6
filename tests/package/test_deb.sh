#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian packages, end to end: dpkg-buildpackage -us -uc -b on a copy of the source tree,
# lintian with no error, `apt install` of the .debs on this machine, the installed files, an
# example built against the installed library, the demo run from the installed binaries
# (scripts/demo --installed), and the steps of docs/getting-started.md on the packaged service.
# Then the packages are purged again (if they were not installed before). Prints TAP.
#
# It installs packages, so it needs root and runs only when MQTTMUX_DEB_TEST=1 (scripts/test
# sets it; a plain `meson test` skips it).
#   usage: test_deb.sh SOURCE_DIR
set -uo pipefail
src=$(cd "$1" && pwd)
n=0 failed=0

skip() { echo "1..0 # SKIP $*"; exit 0; }
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
  n=$((n + 1)) failed=$((failed + 1))
  echo "not ok $n - $1"
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 40 "$2" | sed 's/^/#   /'
  return 0
}
check() { local what=$1 log=$2; shift 2; if "$@" >"$log" 2>&1; then ok "$what"; else not_ok "$what" "$log"; fi; }

[ "${MQTTMUX_DEB_TEST:-0}" = 1 ] || skip "set MQTTMUX_DEB_TEST=1 to build and install the .debs"
[ "$(id -u)" = 0 ] || skip "apt install needs root"
for t in dpkg-buildpackage lintian fakeroot dh; do
  command -v "$t" >/dev/null || skip "$t is missing (scripts/deps installs it)"
done

# meson test points LD_LIBRARY_PATH at the build tree: the installed binaries must not see it.
unset LD_LIBRARY_PATH MALLOC_PERTURB_ ASAN_OPTIONS UBSAN_OPTIONS
export DEBIAN_FRONTEND=noninteractive
work=$(mktemp -d "${TMPDIR:-/tmp}/mqttmux-deb-XXXXXX")
pkgs=(mqttmux libmqttmux0 libmqttmux-dev python3-mqttmux)
installed_before=0
dpkg-query -W -f='${Status}' mqttmux 2>/dev/null | grep -q 'install ok installed' && installed_before=1
# A dpkg run that was killed (a machine stopped mid-install) makes every apt-get refuse until
# it is finished; and a package removed but not purged keeps its conffiles, which would stand
# in for the shipped /etc/mqttmux/mqttmux.cfg. Start from a clean state in both cases.
if [ -n "$(dpkg --audit 2>/dev/null)" ]; then
  echo "# dpkg reports an interrupted run: dpkg --configure -a" >&2
  dpkg --configure -a >&2 || true
fi
if [ "$installed_before" = 0 ]; then
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'config-files' &&
      dpkg --purge "$p" >/dev/null 2>&1
  done
fi
cleanup() {
  if [ "$installed_before" = 0 ]; then
    apt-get purge -y -qq -o DPkg::Lock::Timeout=300 "${pkgs[@]}" >"$work/purge.log" 2>&1 || cat "$work/purge.log" >&2
    # what tmpfiles.d and the daemon made for the package's user
    for d in /run/mqttmux /var/lib/mqttmux; do
      [ -d "$d" ] && [ "$(stat -c %U "$d")" = mqttmux ] && rm -rf "$d"
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "TAP version 13"
# The tree as it is (tracked files and new ones, not build output), not only what is committed.
mkdir "$work/src"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -x -C "$work/src"
else
  (cd "$src" && tar --exclude='./build*' -cf - .) | tar -x -C "$work/src"
fi

check "dpkg-buildpackage -us -uc -b" "$work/build.log" \
  bash -c "cd '$work/src' && dpkg-buildpackage -us -uc -b"
changes=$(ls "$work"/mqttmux_*.changes 2>/dev/null | head -n 1)
if [ -z "$changes" ]; then
  not_ok "the .debs were built"
  echo "1..$n"
  exit 1
fi
for p in "${pkgs[@]}"; do
  if ls "$work/${p}_"*.deb >/dev/null 2>&1; then ok "package $p built"; else not_ok "package $p built"; fi
done
check "lintian reports no error" "$work/lintian.log" lintian --fail-on error "$changes"

check "apt install ./mqttmux_*.deb (with libmqttmux0, libmqttmux-dev, python3-mqttmux)" \
  "$work/apt.log" apt-get install -y -q -o DPkg::Lock::Timeout=300 "$work"/mqttmux_*.deb "$work"/libmqttmux0_*.deb \
  "$work"/libmqttmux-dev_*.deb "$work"/python3-mqttmux_*.deb
check "the Python module loads the installed library" "$work/python.log" \
  env -u MQTTMUX_LIBRARY /usr/bin/python3 -c 'import mqttmux; print(mqttmux.version())'
check "the system user mqttmux exists (sysusers.d)" "$work/id.log" id mqttmux
check "mqttmuxd --version" "$work/version.log" /usr/bin/mqttmuxd --version
check "the worker and the router are in /usr/libexec/mqttmux" "$work/libexec.log" \
  test -x /usr/libexec/mqttmux/mqttmux-worker -a -x /usr/libexec/mqttmux/mqttmux-router
check "the shipped /etc/mqttmux/mqttmux.cfg passes --check" "$work/check.log" \
  /usr/bin/mqttmuxd --check -c /etc/mqttmux/mqttmux.cfg
check "the unit and the man pages are installed" "$work/files.log" \
  test -f /lib/systemd/system/mqttmuxd.service -a -f /usr/share/man/man8/mqttmuxd.8.gz \
  -a -f /usr/share/man/man3/libmqttmux.3.gz
check "an example builds against the installed library with pkg-config" "$work/cc.log" \
  bash -c "cc /usr/share/doc/mqttmux/examples/quickstart.c \$(pkg-config --cflags --libs mqttmux) -o '$work/quickstart'"
check "scripts/demo --installed runs the demo from the packages" "$work/demo.log" \
  bash -c "'$src/scripts/demo' --installed --seconds 3 && grep -q 'plant sensors/line1/' '$work/demo.log'"

# docs/getting-started.md, steps 3 to 5, on the packaged service: a session in
# /etc/mqttmux/mqttmux.cfg, the daemon as the mqttmux user in /run/mqttmux (systemctl where
# systemd runs, else started as the unit would), then sub, pub and the example as root.
getting_started() {
  local port daemon=0 sub rc=0
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' "$port" >"$work/broker.conf"
  mosquitto -c "$work/broker.conf" >"$work/broker.log" 2>&1 &
  local broker=$!
  for _ in $(seq 100); do mosquitto_pub -h 127.0.0.1 -p "$port" -t ping -m x 2>/dev/null && break; sleep 0.05; done
  sed -i "s|^sessions = (\$|sessions = (\n  { name = \"local\"; brokers = [ \"tcp://127.0.0.1:$port\" ]; client_id = \"mqttmux-local\";\n    subscriptions = ( { topic = \"demo/#\"; qos = 1; } ); }|" /etc/mqttmux/mqttmux.cfg
  check "the session added to /etc/mqttmux/mqttmux.cfg passes --check as user mqttmux" \
    "$work/gs-check.log" runuser -u mqttmux -- /usr/bin/mqttmuxd --check -c /etc/mqttmux/mqttmux.cfg
  if [ -d /run/systemd/system ]; then
    systemctl restart mqttmuxd >"$work/gs-daemon.log" 2>&1
  else
    runuser -u mqttmux -- /usr/bin/mqttmuxd -c /etc/mqttmux/mqttmux.cfg >"$work/gs-daemon.log" 2>&1 &
    daemon=$!
  fi
  # the socket file appears at bind(), before listen(): ask until it answers
  for _ in $(seq 200); do mqttmux ping >/dev/null 2>&1 && break; sleep 0.05; done
  check "mqttmux wait: the session is ready (daemon as user mqttmux)" "$work/gs-wait.log" \
    mqttmux wait -t 20
  # The route is made while pub runs: publish until sub has printed one message.
  mqttmux sub -t 'demo/#' -v -C 1 -W 20 >"$work/gs-sub.log" 2>"$work/gs-sub.err" &
  sub=$!
  for _ in $(seq 100); do grep -q . "$work/gs-sub.log" 2>/dev/null && break
    mqttmux pub -s local -t demo/hello -m 'through mqttmux' -q 1 >>"$work/gs-pub.log" 2>&1
    kill -0 "$sub" 2>/dev/null || break; sleep 0.1; done
  wait "$sub" || rc=$?
  if [ "$rc" = 0 ] && grep -q '^demo/hello through mqttmux$' "$work/gs-sub.log"; then
    ok "mqttmux pub through the session reaches mqttmux sub"
  else
    not_ok "mqttmux pub through the session reaches mqttmux sub (sub exit $rc)" "$work/gs-sub.log"
  fi
  check "the example runs against the packaged daemon" "$work/gs-example.log" \
    bash -c "'$work/quickstart' local && grep -q '\\[local\\] sensors/room1/temperature = 23.5' '$work/gs-example.log'"
  if [ "$daemon" != 0 ]; then
    kill "$daemon"; wait "$daemon" 2>/dev/null
  else
    systemctl stop mqttmuxd >/dev/null 2>&1
  fi
  kill "$broker"; wait "$broker" 2>/dev/null
}
[ "$installed_before" = 0 ] && [ -x /usr/bin/mqttmuxd ] && getting_started

echo "1..$n"
[ "$failed" = 0 ]
