# SPDX-License-Identifier: MIT
"""mqttmux top --once (issue 16): the sessions with their state, broker and message rate, and
the router clients with their routes and deliveries, while a paced stream flows."""
import re
import subprocess
import threading
import time

import pytest

import mmtest
from mmtest import wait_for


@pytest.fixture(scope="module")
def top_env(broker):
    dead = mmtest.free_port()
    d = mmtest.Daemon(broker, [{"name": "live", "protocol": "5"},
                               {"name": "gone", "port": dead}], wait=False)
    assert d.cli("wait", "-s", "live", "-t", "30").returncode == 0
    yield d
    d.close()


class Stream:
    """mosquitto_pub -l fed 200 lines a second until stopped."""

    def __init__(self, broker, topic):
        self.p = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port),
                                   "-t", topic, "-l"], stdin=subprocess.PIPE)
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        n = 0
        start = time.monotonic()
        while not self.stop:
            n += 1
            self.p.stdin.write(b"m%d\n" % n)
            self.p.stdin.flush()
            time.sleep(max(0, start + n / 200 - time.monotonic()))

    def close(self):
        self.stop = True
        self.t.join()
        self.p.stdin.close()
        self.p.wait(30)


def rows(text, header):
    """The rows of the table whose header line starts with <header>, split on blanks."""
    lines = text.splitlines()
    i = next(i for i, l in enumerate(lines) if l.startswith(header))
    out = []
    for l in lines[i + 1:]:
        if not l.strip():
            break
        out.append(l.split())
    return out


def test_top_once_shows_sessions_and_clients(broker, top_env):
    since = broker.log_size()
    sub = top_env.popen("sub", "-s", "live", "-t", "top/#", "-t", "other/+")
    broker.wait_subscribed("mm-live", "top/#", since=since)
    stream = Stream(broker, "top/x")
    try:
        def busy():
            r = top_env.cli("top", "--once")
            assert r.returncode == 0, r
            out = r.stdout.decode()
            s = {row[0]: row for row in rows(out, "SESSION")}
            c = rows(out, "CLIENT")
            ok = (s["live"][1] == "connected" and float(s["live"][3]) > 50 and c and
                  c[0][3] == "2" and float(c[0][5]) > 50)
            return out if ok else None
        out = wait_for(busy, 60, "top to show the stream", interval=0.2)
    finally:
        stream.close()
        sub.terminate()
        sub.wait(30)
    assert re.match(r"mqttmux top - \d\d:\d\d:\d\d  up \d+:\d\d:\d\d  sessions 2: 1 connected, "
                    r"1 down, 0 failed  clients 1  router \d+ msg/s in, \d+ out", out), out
    s = {row[0]: row for row in rows(out, "SESSION")}
    assert s["live"][2] == "tcp://127.0.0.1:%d" % broker.port
    assert s["gone"][1] in ("reconnecting", "connecting", "disconnected"), s["gone"]
    c = rows(out, "CLIENT")[0]
    assert c[0] == "mqttmux" and int(c[2]) == sub.pid
    assert "\033" not in out  # --once is plain text


def test_top_session_filter_and_batch_count(top_env):
    r = top_env.cli("top", "-b", "-n", "2", "--interval", "0.2", "-s", "gone")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert out.count("mqttmux top - ") == 2
    names = [row[0] for row in rows(out, "SESSION")]
    assert names == ["gone"], out


def test_top_without_a_daemon_fails_with_a_line(tmp_path):
    r = subprocess.run([mmtest.MQTTMUX, "-d", str(tmp_path), "top", "--once"],
                       capture_output=True, timeout=30)
    assert r.returncode == 1 and b"cannot read the daemon" in r.stderr, r
