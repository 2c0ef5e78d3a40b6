# SPDX-License-Identifier: MIT
"""Logs (issue 16): under journald every process sends records with its priority, its own
SYSLOG_IDENTIFIER (mqttmuxd, mqttmux-router, mqttmux-worker) and, for workers, MQTTMUX_SESSION,
so `journalctl -p err` finds the errors; log_format = "json" gives one JSON object per line.
journald itself is not on the test machine: a socket of the test's own stands in for
/run/systemd/journal/socket and decodes the native protocol as journald does."""
import json
import re
import os
import socket
import struct
import tempfile
import threading

import mmtest
from mmtest import wait_for


def decode(datagram):
    """The fields of one native-protocol datagram (text and length-prefixed forms)."""
    fields, i = {}, 0
    while i < len(datagram):
        nl = datagram.index(b"\n", i)
        line = datagram[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack("<Q", datagram[nl + 1:nl + 9])
            v = datagram[nl + 9:nl + 9 + n]
            assert datagram[nl + 9 + n:nl + 10 + n] == b"\n"
            i = nl + 10 + n
        fields[k.decode()] = v.decode()
    return fields


class FakeJournal:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mqttmux-pyt-j-")
        self.path = os.path.join(self.dir, "socket")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.records = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                self.records.append(decode(self.sock.recv(65536)))
            except socket.timeout:
                pass

    def find(self, **want):
        return [r for r in list(self.records) if all(r.get(k) == v for k, v in want.items())]

    def close(self):
        self.stop = True
        self.t.join()
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


def broken_reload(d):
    good = open(d.cfg).read()
    with open(d.cfg, "w") as f:
        f.write(good + "\nno_such_key = 1;\n")
    assert d.cli("reload").returncode != 0
    with open(d.cfg, "w") as f:
        f.write(good)


def test_journal_records_have_priority_identifier_and_session(broker):
    j = FakeJournal()
    dead = mmtest.free_port()
    d = mmtest.Daemon(broker, [{"name": "good", "protocol": "5"},
                               {"name": "dead", "port": dead}], journal=j.path, wait=False)
    try:
        d.cli("wait", "-s", "good", "-t", "30")
        wait_for(lambda: j.find(SYSLOG_IDENTIFIER="mqttmux-worker", MQTTMUX_SESSION="good",
                                PRIORITY="6"), 30, "the good session's worker")
        # journalctl -p warning: the supervisor's event of the session that cannot connect
        wait_for(lambda: [r for r in j.find(SYSLOG_IDENTIFIER="mqttmuxd", PRIORITY="4")
                          if '"session_disconnected","session":"dead"' in r["MESSAGE"]], 30,
                 "the dead session's warning")
        wait_for(lambda: j.find(SYSLOG_IDENTIFIER="mqttmux-router"), 30, "a router record")
        broken_reload(d)
        # journalctl -p err: PRIORITY 0..3
        errs = wait_for(lambda: [r for r in j.records if int(r["PRIORITY"]) <= 3], 30,
                        "an error record")
        assert any(r["SYSLOG_IDENTIFIER"] == "mqttmuxd" and "reload" in r["MESSAGE"]
                   for r in errs), errs
        for r in j.records:
            assert r["SYSLOG_IDENTIFIER"] in ("mqttmuxd", "mqttmux-router", "mqttmux-worker")
            assert r["PRIORITY"] in ("3", "4", "6", "7")
            assert int(r["SYSLOG_PID"]) > 0
            if r["SYSLOG_IDENTIFIER"] == "mqttmux-worker":
                assert r["MESSAGE"].startswith("session '%s': " % r["MQTTMUX_SESSION"]), r
        w = j.find(SYSLOG_IDENTIFIER="mqttmux-worker", MQTTMUX_SESSION="good")
        assert w and all(int(r["PRIORITY"]) >= 6 for r in w), w
        # a record the journal had no room for (its queue full for 20 ms: this machine's
        # net.unix.max_dgram_qlen may be 10) goes to the stream, with its priority prefix
        for line in d.text().splitlines():
            assert re.match(r"<[3467]>mqttmux(d|-router|-worker)\[\d+\]: ", line), line
    finally:
        d.close()
        j.close()


def test_without_the_journal_socket_lines_carry_a_priority_prefix(broker):
    d = mmtest.Daemon(broker, [{"name": "s"}], journal="/nonexistent/journal/socket")
    try:
        broken_reload(d)
        lines = d.text().splitlines()
        assert lines and all(l[0] == "<" and l[2] == ">" for l in lines), lines
        assert any(l.startswith("<3>mqttmuxd[") and "reload" in l for l in lines), lines
        assert any(l.startswith("<6>mqttmux-worker[") and "session 's': " in l for l in lines)
    finally:
        d.close()


def test_json_log_format(broker):
    d = mmtest.Daemon(broker, [{"name": "s", "protocol": "5"}], extra='log_format = "json";')
    try:
        broken_reload(d)
        recs = [json.loads(l) for l in d.text().splitlines()]
        assert recs
        for r in recs:
            assert set(r) >= {"time", "level", "ident", "pid", "msg"}, r
            assert r["time"].endswith("Z") and r["level"] in ("error", "warning", "info", "debug")
        kinds = {r["ident"] for r in recs}
        assert kinds == {"mqttmuxd", "mqttmux-router", "mqttmux-worker"}, kinds
        assert all(r.get("session") == "s" for r in recs if r["ident"] == "mqttmux-worker")
        assert any(r["level"] == "error" and "reload" in r["msg"] for r in recs)
    finally:
        d.close()
