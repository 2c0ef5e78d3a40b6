#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""meson install into a temporary root, then use the installed tree as a user would.

Checks that the tree holds everything the install layout promises (docs/operations.md,
README.md "Install"): the two commands in bindir and nothing else there, the worker and router
in libexecdir/mqttmux, the library, headers and a .pc that needs nothing but json-c, the
systemd unit with its sysusers.d and tmpfiles.d files, the config, the docs, the examples, the
man pages (when scdoc is installed) and LICENSE. Then, on a .pc search path holding only our
.pc and json-c's, it builds the installed examples/quickstart.c with
`pkg-config --cflags --libs mqttmux` and a version check, starts the installed mqttmuxd with
nothing set but PATH on a private mosquitto (Unix socket), and runs the example against it.

usage: test_install.py BUILD_DIR SOURCE_DIR B_SANITIZE
Prints TAP; exits 0 when every check passed.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD, SOURCE, SANITIZE = sys.argv[1], sys.argv[2], sys.argv[3]
results = []


def check(ok, what, detail=""):
    results.append(ok)
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), what))
    if not ok and detail:
        for line in str(detail).splitlines()[-40:]:
            print("#   " + line)
    return ok


def run(argv, env=None, timeout=120, **kw):
    return subprocess.run(argv, env=env, timeout=timeout, capture_output=True, text=True, **kw)


def wait_for(cond, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def options():
    out = run(["meson", "introspect", BUILD, "--buildoptions"]).stdout
    opts = {o["name"]: o["value"] for o in json.loads(out)}
    version = json.loads(run(["meson", "introspect", BUILD, "--projectinfo"]).stdout)["version"]
    return opts, version


def layout(root, o):
    def at(*parts):
        p = o["prefix"]
        for part in parts:
            p = os.path.join(p, part)  # an absolute part (e.g. sysconfdir /etc) wins
        return root + p

    return {
        "bin": at(o["bindir"]),
        "libexec": at(o["libexecdir"], "mqttmux"),
        "lib": at(o["libdir"]),
        "include": at(o["includedir"]),
        "man": at(o["mandir"]),
        "etc": at(o["sysconfdir"], "mqttmux"),
        "doc": at(o["datadir"], "doc", "mqttmux"),
        "unit": at(o["systemdsystemunitdir"] or "lib/systemd/system"),
        "sysusers": at(o["sysusersdir"] or "lib/sysusers.d"),
        "tmpfiles": at(o["tmpfilesdir"] or "lib/tmpfiles.d"),
        "prefix": root + o["prefix"],
    }


def check_tree(d):
    want = [
        d["bin"] + "/mqttmuxd", d["bin"] + "/mqttmux",
        d["libexec"] + "/mqttmux-worker", d["libexec"] + "/mqttmux-router",
        d["lib"] + "/libmqttmux.so", d["lib"] + "/libmqttmux.so.0",
        d["lib"] + "/pkgconfig/mqttmux.pc",
        d["include"] + "/mqttmux.h", d["include"] + "/mqttmux_version.h",
        d["unit"] + "/mqttmuxd.service", d["sysusers"] + "/mqttmux.conf",
        d["tmpfiles"] + "/mqttmux.conf", d["etc"] + "/mqttmux.cfg",
        d["doc"] + "/LICENSE", d["doc"] + "/README.md", d["doc"] + "/operations.md",
        d["doc"] + "/configuration.md", d["doc"] + "/examples/quickstart.c",
        d["doc"] + "/examples/tls-session.cfg",
    ]
    if shutil.which("scdoc"):
        want += [d["man"] + "/man8/mqttmuxd.8", d["man"] + "/man1/mqttmux.1",
                 d["man"] + "/man5/mqttmux.conf.5", d["man"] + "/man3/libmqttmux.3"]
    missing = [p for p in want if not os.path.exists(p)]
    check(not missing, "the installed tree holds every file", "missing: %s" % missing)
    extra = sorted(set(os.listdir(d["bin"])) - {"mqttmuxd", "mqttmux"})
    check(not extra, "bindir holds mqttmuxd and mqttmux only", "also: %s" % extra)
    for p in [d["bin"] + "/mqttmuxd", d["bin"] + "/mqttmux", d["libexec"] + "/mqttmux-worker",
              d["libexec"] + "/mqttmux-router"]:
        check(os.access(p, os.X_OK), "%s is executable" % os.path.basename(p))
    unit = open(d["unit"] + "/mqttmuxd.service").read() if not missing else ""
    check("@" not in unit.replace("@system-service", ""), "the unit has no @placeholder@ left")


def cli_env(d, env):
    """mqttmux links libmqttmux.so.0, which ld.so finds in a staged root only this way."""
    return dict(env, LD_LIBRARY_PATH=d["lib"])


def check_binaries(d, version, env):
    for p in [d["bin"] + "/mqttmuxd", d["bin"] + "/mqttmux", d["libexec"] + "/mqttmux-worker",
              d["libexec"] + "/mqttmux-router"]:
        name = os.path.basename(p)
        env = cli_env(d, env) if name == "mqttmux" else env
        for flag in ["--help", "-h"]:
            r = run([p, flag], env=env)
            check(r.returncode == 0 and "usage:" in r.stdout and not r.stderr,
                  "%s %s: usage on stdout, exit 0" % (name, flag), r.stdout + r.stderr)
        r = run([p, "--version"], env=env)
        check(r.returncode == 0 and r.stdout == "%s %s\n" % (name, version),
              "%s --version prints '%s %s'" % (name, name, version), r.stdout + r.stderr)
    for cmd in ["sub", "pub", "status"]:
        r = run([d["bin"] + "/mqttmux", cmd, "--help"], env=cli_env(d, env))
        check(r.returncode == 0 and "usage:" in r.stdout,
              "mqttmux %s --help: usage on stdout, exit 0" % cmd, r.stdout + r.stderr)
    r = run([d["bin"] + "/mqttmuxd", "--check", "-c", d["etc"] + "/mqttmux.cfg"], env=env)
    check(r.returncode == 0, "the installed config passes mqttmuxd --check", r.stdout + r.stderr)


def pc_dir(tmp, d):
    """A pkg-config search path holding only our .pc and json-c's."""
    pcdir = os.path.join(tmp, "pc")
    os.mkdir(pcdir)
    shutil.copy(d["lib"] + "/pkgconfig/mqttmux.pc", pcdir)
    jsonc = run(["pkg-config", "--variable=pcfiledir", "json-c"]).stdout.strip()
    shutil.copy(os.path.join(jsonc, "json-c.pc"), pcdir)
    text = open(os.path.join(pcdir, "mqttmux.pc")).read()
    check("libconfig" not in text, "mqttmux.pc does not require libconfig", text)
    return pcdir


def build(tmp, d, pcdir, src, out, env):
    penv = dict(env, PKG_CONFIG_LIBDIR=pcdir, PKG_CONFIG_PATH="")
    r = run(["pkg-config", "--define-variable=prefix=" + d["prefix"], "--cflags", "--libs",
             "mqttmux"], env=penv)
    if not check(r.returncode == 0, "pkg-config --cflags --libs mqttmux on our .pc and json-c's",
                 r.stderr):
        return False
    flags = r.stdout.split()
    if SANITIZE not in ("", "none"):
        flags += ["-fsanitize=" + SANITIZE]
    r = run(["cc", "-Wall", "-Werror", src, "-o", out, "-Wl,-rpath," + d["lib"]] + flags,
            env=env)
    return check(r.returncode == 0, "%s builds with those flags" % os.path.basename(src),
                 r.stderr)


def start_broker(tmp):
    sock = os.path.join(tmp, "broker.sock")
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener 0 %s\nallow_anonymous true\n" % sock)
        if os.geteuid() == 0:
            f.write("user root\n")
    log = open(os.path.join(tmp, "broker.log"), "w")
    p = subprocess.Popen(["mosquitto", "-c", conf], stdout=log, stderr=subprocess.STDOUT)

    def up():
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    check(wait_for(up, 10), "mosquitto listens on %s" % sock)
    return p, sock


def main():
    opts, version = options()
    print("TAP version 13")
    tmp = tempfile.mkdtemp(prefix="mqttmux-install-")
    os.chmod(tmp, 0o755)
    procs = []
    try:
        root = os.path.join(tmp, "root")
        r = run(["meson", "install", "-C", BUILD, "--destdir", root, "--no-rebuild", "--quiet"])
        if not check(r.returncode == 0, "meson install --destdir", r.stdout + r.stderr):
            return
        d = layout(root, opts)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        check_tree(d)
        check_binaries(d, version, env)
        pcdir = pc_dir(tmp, d)
        vsrc = os.path.join(tmp, "version.c")
        with open(vsrc, "w") as f:
            f.write('#include <mqttmux.h>\n#include <string.h>\n'
                    '#if MQTTMUX_VERSION_NUMBER != MQTTMUX_VERSION_MAJOR * 1000000 + '
                    'MQTTMUX_VERSION_MINOR * 1000 + MQTTMUX_VERSION_PATCH\n#error number\n#endif\n'
                    'int main(void) { return strcmp(mqttmux_version(), "%s") ||\n'
                    '  strcmp(MQTTMUX_VERSION, "%s"); }\n' % (version, version))
        if build(tmp, d, pcdir, vsrc, os.path.join(tmp, "version"), env):
            r = run([os.path.join(tmp, "version")], env=env)
            check(r.returncode == 0, "mqttmux_version() and MQTTMUX_VERSION say %s" % version,
                  r.stderr)
        example = os.path.join(tmp, "quickstart")
        built = build(tmp, d, pcdir, d["doc"] + "/examples/quickstart.c", example, env)
        broker, sock = start_broker(tmp)
        procs.append(broker)
        run_dir = os.path.join(tmp, "run")
        cfg = os.path.join(tmp, "mqttmux.cfg")
        with open(cfg, "w") as f:
            f.write('runtime_dir = "%s";\nstate_dir = "%s/state";\nsessions = (\n'
                    '  { name = "plant"; brokers = [ "unix://%s" ]; client_id = "inst-plant"; }'
                    '\n);\n' % (run_dir, tmp, sock))
        log = open(os.path.join(tmp, "mqttmuxd.log"), "w")
        daemon = subprocess.Popen([d["bin"] + "/mqttmuxd", "-c", cfg], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        procs.append(daemon)
        # the socket file appears at bind(), before listen(): ask until it answers
        ping = [d["bin"] + "/mqttmux", "-d", run_dir, "ping"]
        check(wait_for(lambda: run(ping, env=cli_env(d, env)).returncode == 0, 20),
              "the installed mqttmuxd starts with nothing set but PATH",
              open(os.path.join(tmp, "mqttmuxd.log")).read())
        r = run([d["bin"] + "/mqttmux", "-d", run_dir, "wait", "-t", "30"], env=cli_env(d, env))
        text = open(os.path.join(tmp, "mqttmuxd.log")).read()
        check(r.returncode == 0 and "with '%s/mqttmux-worker'" % d["libexec"] in text,
              "its session is ready, with the worker from libexec", r.stderr + text)
        if built:
            r = run([example, "plant"], env=dict(env, MQTTMUX_RUNTIME_DIR=run_dir), timeout=60)
            check(r.returncode == 0 and "[plant] sensors/room1/temperature = 23.5" in r.stdout,
                  "the example built with pkg-config runs against the installed daemon",
                  r.stdout + r.stderr)
        daemon.send_signal(signal.SIGTERM)
        try:
            st = daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            st = None
        check(st == 0, "mqttmuxd stops on SIGTERM with status 0", "status %s" % st)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        print("1..%d" % len(results))


main()
sys.exit(0 if results and all(results) else 1)
