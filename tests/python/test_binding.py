# SPDX-License-Identifier: MIT
"""The Python binding (python/mqttmux, issue 16) against the real daemon, router, workers and
broker: open, callback and iterator routes, zero-copy payloads, publish with MQTT 5
properties, wait, status, sessions add and remove, metrics, events, asyncio."""
import asyncio
import gc
import os
import subprocess
import sys
import threading

import pytest

import mmtest
from mmtest import wait_for

os.environ.setdefault("MQTTMUX_LIBRARY", mmtest.LIB)
sys.path.insert(0, os.path.join(mmtest.SRC, "python"))
import mqttmux  # noqa: E402


@pytest.fixture(scope="module")
def d(broker):
    dm = mmtest.Daemon(broker, [{"name": "v5", "protocol": "5"},
                                {"name": "v311", "protocol": "3.1.1"}])
    yield dm
    dm.close()


@pytest.fixture
def client(d):
    c = mqttmux.Client(d.run)
    yield c
    c.close()


def mpub(broker, topic, msg, *extra):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic,
                    "-m", msg, "-q", "1", *extra], check=True, timeout=30)


def pump(c, cond, what, timeout=30):
    wait_for(lambda: c.dispatch(0.05) is not None and cond(), timeout, what, interval=0)


def test_version_and_open_errors(tmp_path):
    assert mqttmux.version().count(".") == 2
    with pytest.raises(mqttmux.MqttmuxError) as e:
        mqttmux.Client(str(tmp_path))
    assert e.value.errno in (2, 111)  # ENOENT, ECONNREFUSED: no router there


def test_callback_gets_a_zero_copy_payload_released_after(broker, d, client):
    got, views = [], []

    def cb(msg):
        assert isinstance(msg.payload, memoryview) and msg.payload.readonly
        views.append(msg.payload)
        got.append((msg.session, msg.topic, bytes(msg.payload), msg.qos, msg.retain))
    client.handle("zc/#", cb, session="v5")
    broker.wait_subscribed("mm-v5", "zc/#")
    mpub(broker, "zc/a", "hello")
    pump(client, lambda: got, "the message")
    assert got == [("v5", "zc/a", b"hello", 1, False)]
    with pytest.raises(ValueError):  # the ring bytes are gone with the callback
        bytes(views[0])


def test_listen_iterator_with_timeout(broker, d, client):
    r = client.listen("it/#", session="v311")
    broker.wait_subscribed("mm-v311", "it/#")
    assert r.next(timeout=0.1) is None
    for i in range(3):
        mpub(broker, "it/x", "m%d" % i)
    got = [r.next(timeout=30) for _ in range(3)]
    assert [(m.topic, m.payload) for m in got] == [("it/x", b"m0"), ("it/x", b"m1"),
                                                   ("it/x", b"m2")]
    r.stop()


def test_publish_with_properties_round_trip(broker, d, client):
    got = []
    client.handle("pr/#", lambda m: got.append(m.copy()), session="v5")
    broker.wait_subscribed("mm-v5", "pr/#")
    props = {"content_type": "application/json", "response_topic": "pr/reply",
             "correlation_data": b"\x00\x01id", "message_expiry": 3600, "payload_format": 1,
             "user_properties": [("a", "1"), ("b", "two"), ("a", "3")]}
    client.publish("v5", "pr/x", '{"x":1}', qos=1, properties=props)
    pump(client, lambda: got, "the message with properties")
    m = got[0]
    assert m.payload == b'{"x":1}'
    p = m.properties
    assert p["content_type"] == "application/json" and p["response_topic"] == "pr/reply"
    assert p["correlation_data"] == b"\x00\x01id" and p["payload_format"] == 1
    assert 3590 <= p["message_expiry"] <= 3600
    assert p["user_properties"] == [("a", "1"), ("b", "two"), ("a", "3")]


def test_publish_errors(client):
    with pytest.raises(mqttmux.MqttmuxError):
        client.publish("nosuch", "t", b"x", qos=1)
    with pytest.raises(mqttmux.MqttmuxError):
        client.publish("v311", "t", b"x", properties={"content_type": "x"})
    with pytest.raises(ValueError):
        client.publish("v5", "t", b"x", properties={"bogus": 1})


def test_publish_async_and_exceptions_from_callbacks(broker, d, client):
    results = []
    client.publish_async("v5", "pa/x", b"1", results.append, qos=1)
    pump(client, lambda: results, "the completion")
    assert results == [0]

    def boom(msg):
        raise RuntimeError("from the callback")
    client.handle("boom/#", boom, session="v5")
    broker.wait_subscribed("mm-v5", "boom/#")
    mpub(broker, "boom/x", "y")
    with pytest.raises(RuntimeError, match="from the callback"):
        wait_for(lambda: client.dispatch(0.05) and False, 30, "the exception", interval=0)


def test_control_functions(broker, d, tmp_path):
    mqttmux.wait(timeout=30, runtime_dir=d.run)
    mqttmux.wait("v5", timeout=30, runtime_dir=d.run)
    st = {s["name"]: s for s in mqttmux.status(d.run)}
    assert st["v5"]["state"] == "connected" and st["v5"]["broker"].endswith(str(broker.port))
    assert mqttmux.sessions(d.run) == ["v5", "v311"]
    m = mqttmux.metrics(d.run)
    assert m["active_sessions"] == 2
    assert sorted(s["name"] for s in m["sessions"]) == ["v311", "v5"]
    assert "# TYPE mqtt_session_connected gauge" in mqttmux.metrics_text(d.run)
    with pytest.raises(mqttmux.MqttmuxError):
        mqttmux.wait("nosuch-x", timeout=0.2, runtime_dir=d.run)


def test_sessions_add_and_remove_with_events(broker, d):
    blk = os.path.join(d.dir, "extra.cfg")
    with open(blk, "w") as f:
        f.write('session = { name = "extra"; brokers = [ "tcp://127.0.0.1:%d" ]; '
                'client_id = "mm-extra"; };\n' % broker.port)
    seen = []
    with mqttmux.Client(d.run) as c:
        c.on_event(lambda e: seen.append((e.type, e.session)),
                   types=["session_added", "session_ready", "session_removed"])
        mqttmux.session_add(blk, d.run)
        mqttmux.wait("extra", timeout=30, runtime_dir=d.run)
        pump(c, lambda: ("session_added", "extra") in seen, "session_added", 60)
        mqttmux.session_remove("extra", d.run)
        pump(c, lambda: ("session_removed", "extra") in seen, "session_removed", 60)
    assert "extra" not in mqttmux.sessions(d.run)


def test_asyncio(broker, d):
    async def main():
        c = mqttmux.Client(d.run)
        c.attach()
        msgs = c.messages("aio/#", session="v5")
        await asyncio.get_running_loop().run_in_executor(
            None, broker.wait_subscribed, "mm-v5", "aio/#")
        await c.apublish("v5", "aio/1", b"one", qos=1)
        await c.apublish("v5", "aio/2", b"two", qos=1)
        got = []
        async for m in msgs:
            got.append((m.topic, m.payload))
            if len(got) == 2:
                msgs.stop()
        c.close()
        return got
    got = asyncio.run(asyncio.wait_for(main(), 60))
    assert got == [("aio/1", b"one"), ("aio/2", b"two")]


def test_close_is_idempotent_and_gc_safe(d):
    c = mqttmux.Client(d.run)
    c.handle("gc/#", lambda m: None)
    c.close()
    c.close()
    del c
    gc.collect()
