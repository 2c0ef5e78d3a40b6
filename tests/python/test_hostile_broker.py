# SPDX-License-Identifier: MIT
"""A broker that sends topics no broker may send (issue 12): a PUBLISH to "a/+/b" or "a/#"
would reach every client routing a matching filter as if somebody had published to it. The
worker drops such messages, counts them (mqttmux_session_invalid_dropped_total) and reports
them (message_dropped); the next good message is delivered, and the session stays up. MQTT
3.1.1 and 5; the broker is tests/python/hostile_broker.py. Meanwhile a second session on a
real mosquitto delivers every QoS 1 message."""
import re
import subprocess

import pytest

import mmtest
from hostile_broker import HostileBroker, publish


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_wildcard_topics_from_a_broker_are_dropped_and_counted(broker, protocol):
    v5 = protocol == "5"
    hb = HostileBroker(v5, [publish(b"a/+/b", b"wild+", v5), publish(b"a/#", b"wild#", v5),
                            publish(b"+", b"wild", v5, qos=1, mid=7),
                            publish(b"good/1", b"ok", v5)])
    since = broker.log_size()  # the broker serves both protocols' runs: this one's lines
    d = mmtest.Daemon(broker, [{"name": "hb", "port": hb.port, "protocol": protocol},
                               {"name": "real", "protocol": protocol}])
    try:
        real = d.popen("sub", "-s", "real", "-t", "r/#", "-q", "1", "-C", "20", "-W", "60")
        broker.wait_subscribed("mm-real", "r/#", since=since)
        r = d.cli("sub", "-s", "hb", "-t", "#", "-v", "-C", "1", "-W", "30", timeout=60)
        assert r.returncode == 0, (r, d.text())
        assert r.stdout == b"good/1 ok\n", r.stdout
        for i in range(20):
            p = subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", "r/%d" % i,
                                "-m", "m%d" % i, "-V", "mqttv5" if v5 else "mqttv311"],
                               capture_output=True, timeout=30)
            assert p.returncode == 0, p
        out, _ = real.communicate(timeout=90)
        assert out.split() == [b"m%d" % i for i in range(20)], out

        m = d.cli("metrics")
        assert m.returncode == 0, m
        assert re.search(rb'mqttmux_session_invalid_dropped_total\{session="hb"\} 3\n', m.stdout), \
            m.stdout
        assert "invalid topic 'a/+/b' from the broker" in d.text(), d.text()
        st = d.cli("status", "--json")
        assert b'"restarts":0' in st.stdout.replace(b" ", b""), st.stdout
    finally:
        d.close()
        hb.close()
