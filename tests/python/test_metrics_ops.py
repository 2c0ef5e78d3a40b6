# SPDX-License-Identifier: MIT
"""Metrics for operators (issue 16): HTTP with a query string and on ":PORT", the periodic
textfile, reload results, process_* per process kind, and no label that changes when a
process restarts. A real daemon, router, workers and broker."""
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

import mmtest
from mmtest import wait_for


@pytest.fixture(scope="module")
def ops(broker):
    port = mmtest.free_port()
    d = mmtest.Daemon(broker, [{"name": "one", "protocol": "5"},
                               {"name": "two", "protocol": "3.1.1"}],
                      extra='metrics = { http = ":%d"; textfile = "%s"; textfile_interval = 1; };'
                      % (port, "@DIR@/m.prom"))
    d.http_port = port
    yield d
    d.close()


def metrics(d):
    r = d.cli("metrics")
    assert r.returncode == 0, r
    return r.stdout.decode()


def samples(text, name):
    """{labels-string: value} of family <name>."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def test_http_ignores_a_query_string_and_listens_everywhere_on_colon_port(ops):
    url = "http://127.0.0.1:%d/metrics?name[]=process_open_fds&x=1" % ops.http_port
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        assert b"# TYPE process_open_fds gauge" in r.read()
    try:
        s = socket.create_connection(("::1", ops.http_port), 5)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    assert s.recv(12) == b"HTTP/1.1 200"
    s.close()


def test_the_textfile_is_written_periodically(ops):
    path = os.path.join(ops.dir, "m.prom")
    wait_for(lambda: os.path.exists(path), 20, "the first textfile")

    def uptime():
        with open(path) as f:
            return samples(f.read(), "mqttmux_uptime_seconds").get("")
    first = uptime()
    wait_for(lambda: uptime() != first, 20, "a second textfile write")
    assert b"textfile_interval" in ops.text().encode()


def test_reload_results_are_counted(ops):
    before = metrics(ops)
    assert samples(before, "mqttmux_config_last_reload_successful") == {"": 1.0}
    t0 = samples(before, "mqttmux_config_last_reload_success_timestamp_seconds")[""]
    good = open(ops.cfg).read()
    try:
        with open(ops.cfg, "w") as f:
            f.write(good + "\nno_such_key = 1;\n")
        assert ops.cli("reload").returncode != 0
        m = metrics(ops)
        assert samples(m, "mqttmux_config_last_reload_successful") == {"": 0.0}
        assert samples(m, "mqttmux_config_reloads_total") == {'{result="error"}': 1.0,
                                                              '{result="ok"}': 0.0}
    finally:
        with open(ops.cfg, "w") as f:
            f.write(good)
    assert ops.cli("reload").returncode == 0
    m = metrics(ops)
    assert samples(m, "mqttmux_config_last_reload_successful") == {"": 1.0}
    assert samples(m, "mqttmux_config_reloads_total")['{result="ok"}'] == 1.0
    assert samples(m, "mqttmux_config_last_reload_success_timestamp_seconds")[""] >= t0


PROCESS_FAMILIES = ["process_cpu_seconds_total", "process_resident_memory_bytes",
                    "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                    "process_start_time_seconds", "mqttmux_process_pid"]
KINDS = ['{kind="router"}', '{kind="supervisor"}', '{kind="worker",session="one"}',
         '{kind="worker",session="two"}']


def test_process_metrics_cover_every_process_and_survive_a_restart(ops):
    m = metrics(ops)
    for fam in PROCESS_FAMILIES:
        assert sorted(samples(m, fam)) == KINDS, fam
    pids = samples(m, "mqttmux_process_pid")
    assert pids['{kind="supervisor"}'] == ops.proc.pid
    assert samples(m, "process_resident_memory_bytes")['{kind="worker",session="one"}'] > 0
    assert samples(m, "process_open_fds")['{kind="router"}'] > 3
    start = samples(m, "process_start_time_seconds")['{kind="worker",session="one"}']
    assert abs(start - time.time()) < 3600
    os.kill(int(pids['{kind="worker",session="one"}']), signal.SIGKILL)

    def restarted():
        p = samples(metrics(ops), "mqttmux_process_pid")
        w = p.get('{kind="worker",session="one"}')
        return w and w != pids['{kind="worker",session="one"}']
    wait_for(restarted, 60, "the worker to restart")
    assert ops.cli("wait", "-t", "30").returncode == 0
    m = metrics(ops)
    for fam in PROCESS_FAMILIES:
        assert sorted(samples(m, fam)) == KINDS, fam
    assert samples(m, "process_start_time_seconds")['{kind="worker",session="one"}'] >= start


def test_no_label_depends_on_a_process_id(ops, broker):
    p = ops.popen("sub", "-t", "x/#")
    wait_for(lambda: samples(metrics(ops), "mqttmux_client_pid"), 30, "the client's series")
    m = metrics(ops)
    assert 'pid="' not in m
    assert list(samples(m, "mqttmux_client_pid").values()) == [float(p.pid)]
    p.terminate()
    p.wait(30)


def test_promtool_accepts_the_live_text(ops):
    r = subprocess.run(["promtool", "check", "metrics"], input=metrics(ops).encode(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r
