# SPDX-License-Identifier: MIT
"""mqttmux sub says on stderr when a session it listens to is down, and when it is back."""
import subprocess
import tempfile

import mmtest
from mmtest import wait_for


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_sub_reports_session_down_and_back():
    b = mmtest.Broker()
    d = mmtest.Daemon(b, [{"name": "s", "protocol": "5"}])
    err = tempfile.NamedTemporaryFile(prefix="mqttmux-pyt-err-")
    out = tempfile.NamedTemporaryFile(prefix="mqttmux-pyt-out-")
    try:
        since = b.log_size()
        p = subprocess.Popen([mmtest.MQTTMUX, "sub", "-s", "s", "-t", "d/#", "-v"],
                             env=d.env, stdout=out, stderr=err)
        b.wait_subscribed("mm-s", "d/#", since=since)
        assert read(err.name) == b""
        b.stop()
        wait_for(lambda: b"session 's' is down" in read(err.name), 60, "the down line")
        b.restart()
        wait_for(lambda: b"session 's' is back" in read(err.name), 60, "the back line")
        # the route's filter is subscribed again before the session is ready
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.port), "-t", "d/1",
                        "-m", "after"], check=True, timeout=30)
        wait_for(lambda: read(out.name) == b"d/1 after\n", 60, "the message after the outage")
        assert read(err.name).count(b"is down") == 1, read(err.name)
        p.terminate()
        p.wait(30)
    finally:
        d.close()
        b.close()


def test_sub_says_a_session_is_down_at_start():
    b = mmtest.Broker()
    b.close()  # the session's broker is gone before the daemon starts
    d = mmtest.Daemon(b, [{"name": "dead", "protocol": "3.1.1"}], wait=False)
    try:
        r = d.cli("sub", "-s", "dead", "-t", "x", "-W", "5")
        assert r.returncode == 27, r
        assert b"session 'dead' is down" in r.stderr, r
        print(r.stderr.decode())
    finally:
        d.close()
