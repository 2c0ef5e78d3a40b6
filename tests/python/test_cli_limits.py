# SPDX-License-Identifier: MIT
"""Publishes up to the session's max_message_size (issue 10): a 200,000-byte file from
`mqttmux pub -f` reaches a plain mosquitto_sub byte for byte on MQTT 3.1.1 and 5, and one over
the limit (the default 262,144 bytes of topic, payload and properties) fails with a line that
names the limit. The worker sends the publish: each runs once per worker loop backend.
"""
import os
import subprocess

import pytest

import mmtest
from test_cli_parity import PROTOS, uniq


@pytest.fixture(scope="module", params=["uring", "epoll"])
def daemon(broker, request):
    """conftest's daemon ("v311" and "v5"), its workers on the loop backend <request.param>."""
    saved = os.environ.get("MQTTMUX_LOOP")
    os.environ["MQTTMUX_LOOP"] = request.param
    try:
        d = mmtest.Daemon(broker, [{"name": "v311", "protocol": "3.1.1"},
                                   {"name": "v5", "protocol": "5"}])
    finally:
        if saved is None:
            del os.environ["MQTTMUX_LOOP"]
        else:
            os.environ["MQTTMUX_LOOP"] = saved
    try:
        r = d.cli("metrics")
        assert ('mqttmux_session_event_loop_info{session="v5",backend="%s"} 1'
                % {"uring": "io_uring", "epoll": "epoll"}[request.param]).encode() in r.stdout
        yield d
    finally:
        d.close()


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_200000_bytes_arrive_identical(broker, daemon, tmp_path, proto, qos):
    session, version = proto
    t = uniq()
    data = os.urandom(200000)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    cid = "pyt-big-%d-%d" % (os.getpid(), qos)
    since = broker.log_size()
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", version,
                            "-i", cid, "-t", t, "-q", str(qos), "-C", "1", "-N"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    broker.wait_subscribed(cid, t, since=since)
    r = daemon.cli("pub", "-s", session, "-t", t, "-f", str(path), "-q", str(qos))
    assert r.returncode == 0, r.stderr
    out, err = sub.communicate(timeout=60)
    assert out == data, "got %d bytes: %r" % (len(out), err)


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_over_max_message_size_names_the_limit(daemon, tmp_path, proto):
    path = tmp_path / "huge.bin"
    path.write_bytes(b"x" * 300000)
    r = daemon.cli("pub", "-s", proto[0], "-t", "pyt/huge", "-f", str(path), "-q", "1")
    assert r.returncode == 1
    assert b"300000 bytes" in r.stderr and b"max_message_size" in r.stderr \
        and b"262144 bytes" in r.stderr, r.stderr
