# SPDX-License-Identifier: MIT
"""Helpers for the Python-driven suites: a private mosquitto broker on 127.0.0.1, mqttmuxd
from the build tree with a temporary config, and small process helpers. Real processes only:
the broker is Debian's mosquitto, the daemon, router and workers are this build's.

The build tree comes from $MQTTMUX_BUILD (meson sets it); the sources from this file's place.
Every wait has a deadline; nothing sleeps for a fixed time to "let things settle".
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("MQTTMUX_BUILD", os.path.join(SRC, "build"))
MQTTMUXD = os.path.join(BUILD, "supervisor", "mqttmuxd")
MQTTMUX = os.path.join(BUILD, "shm", "client", "mqttmux")
WORKER = os.path.join(BUILD, "worker", "mqttmux-worker")
ROUTER = os.path.join(BUILD, "shm", "router", "mqttmux-router")
LIB = os.path.join(BUILD, "shm", "client", "libmqttmux.so.0")

# A sanitized build runs this interpreter with the sanitizer runtimes preloaded (so that it can
# load the sanitized libmqttmux); the processes it starts are built with them or need none.
os.environ.pop("LD_PRELOAD", None)


def wait_for(pred, timeout=20.0, what="condition", interval=0.02):
    """Poll pred() until it returns a true value; return it. Fails after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    """mosquitto on 127.0.0.1:<port>, logging subscriptions so tests can wait for them."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mqttmux-pyt-broker-")
        os.chmod(self.dir, 0o755)
        self.log = os.path.join(self.dir, "broker.log")
        self.proc = None
        for _ in range(5):
            self.port = free_port()
            if self._start():
                return
        raise AssertionError("mosquitto did not start: " + self.text())

    def _start(self):
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\n" % self.port)
            # stderr is unbuffered: the subscribe lines are in the file at once
            f.write("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n")
            f.write("log_type information\nlog_type subscribe\nlog_type unsubscribe\n")
            f.write("max_inflight_messages 0\nmax_queued_messages 0\n")
            if os.getuid() == 0:
                f.write("user root\n")
        out = open(self.log, "wb")
        self.proc = subprocess.Popen(["mosquitto", "-c", conf], stdout=out,
                                     stderr=subprocess.STDOUT)
        out.close()
        try:
            wait_for(lambda: self.proc.poll() is not None or " running" in self.text(),
                     10, "mosquitto to start")
        except AssertionError:
            pass
        # mosquitto logs "running" a moment before its listener accepts: probe it too
        if self.proc.poll() is None and " running" in self.text():
            try:
                wait_for(self._accepts, 10, "mosquitto's listener")
                return True
            except AssertionError:
                pass
        self.stop()
        return False

    def _accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 1).close()
            return True
        except OSError:
            return False

    def text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_subscribed(self, client_id, topic, timeout=20.0, since=0):
        """Wait for the broker's "<client_id> <qos> <topic>" line (log_type subscribe)."""
        def seen():
            for line in self.text()[since:].splitlines():
                parts = line.split(" ")
                if len(parts) == 4 and parts[1] == client_id and parts[3] == topic:
                    return True
            return False
        wait_for(seen, timeout, "%s to subscribe %s" % (client_id, topic))

    def restart(self):
        """Start again on the same port (after stop())."""
        wait_for(self._start, 30, "mosquitto to start again on port %d" % self.port, 0.2)

    def log_size(self):
        return len(self.text())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Daemon:
    """mqttmuxd with <sessions> (dicts: name, protocol, client_id, extra, port, scheme) on
    <broker>."""

    def __init__(self, broker, sessions, extra="", wait=True, journal=None, env=None):
        """journal: None, or the path of a journal socket: stderr is then "the journal"
        (JOURNAL_STREAM names the log file) and records go to that socket. env: more
        environment for the daemon (and so its children)."""
        self.dir = tempfile.mkdtemp(prefix="mqttmux-pyt-d-")
        os.chmod(self.dir, 0o755)
        self.run = os.path.join(self.dir, "run")
        self.cfg = os.path.join(self.dir, "mqttmuxd.conf")
        self.log = os.path.join(self.dir, "mqttmuxd.log")
        rows = []
        for s in sessions:
            rows.append('  { name = "%s"; brokers = [ "%s://127.0.0.1:%d" ]; '
                        'client_id = "%s"; protocol = "%s"; %s }'
                        % (s["name"], s.get("scheme", "tcp"), s.get("port", broker.port),
                           s.get("client_id", "mm-" + s["name"]),
                           s.get("protocol", "3.1.1"), s.get("extra", "")))
        with open(self.cfg, "w") as f:
            f.write('runtime_dir = "%s";\nstate_dir = "%s/state";\n%s\n'
                    % (self.run, self.dir, extra.replace("@DIR@", self.dir)))
            f.write("sessions = (\n" + ",\n".join(rows) + "\n);\n")
        self.env = dict(os.environ, MQTTMUX_WORKER=WORKER, MQTTMUX_ROUTER=ROUTER,
                        MQTTMUX_RUNTIME_DIR=self.run)
        self.env.pop("JOURNAL_STREAM", None)
        self.env.update(env or {})
        out = open(self.log, "ab")
        if journal is not None:
            st = os.fstat(out.fileno())
            self.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
            self.env["MQTTMUX_JOURNAL_SOCKET"] = journal
        self.proc = subprocess.Popen([MQTTMUXD, "-c", self.cfg], stdout=out,
                                     stderr=subprocess.STDOUT, env=self.env)
        out.close()
        try:
            self._ready(wait)
        except BaseException:
            self.close()  # nothing may outlive a failed start
            raise

    def _ready(self, wait):
        wait_for(lambda: self.proc.poll() is not None or
                 (os.path.exists(os.path.join(self.run, "control.sock")) and
                  os.path.exists(os.path.join(self.run, "router.sock"))),
                 20, "mqttmuxd's sockets")
        assert self.proc.poll() is None, "mqttmuxd exited: " + self.text()
        wait_for(lambda: self._accepts("router.sock", socket.SOCK_SEQPACKET) and
                 self._accepts("control.sock", socket.SOCK_STREAM), 20,
                 "the router and the control socket to accept")
        r = self.cli("wait", "-t", "30") if wait else None
        assert not r or r.returncode == 0, "sessions not ready: %s\n%s" % (r.stderr, self.text())

    def _accepts(self, name, kind):
        s = socket.socket(socket.AF_UNIX, kind)
        try:
            s.connect(os.path.join(self.run, name))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def cli(self, *args, input=None, timeout=60):
        return subprocess.run([MQTTMUX, *args], env=self.env, input=input,
                              capture_output=True, timeout=timeout)

    def popen(self, *args, **kw):
        return subprocess.Popen([MQTTMUX, *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
