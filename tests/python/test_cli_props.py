# SPDX-License-Identifier: MIT
"""MQTT 5 properties in mqttmux sub / pub, side by side with mosquitto_sub / mosquitto_pub
(issue 10): the property tokens of -F (%P %C %D %E %F %R %A) and the "properties" of %j print
the same bytes as mosquitto_sub's; `mqttmux pub -D` sends what `mosquitto_pub -D` sends. The
differences by design (%S, topic-alias, other -D commands) have tests of their own.
"""
import subprocess

import pytest

from test_cli_parity import assert_same, mask_times, run_pair, uniq

V5 = ("v5", "mqttv5")

# -D arguments shared by mosquitto_pub and mqttmux pub (values as bytes on the command line).
PROPS = [
    [],
    ["-D", "publish", "user-property", "k", "v", "-D", "publish", "user-property", "k", "caf\u00e9",
     "-D", "publish", "content-type", "text/plain; charset=utf-8"],
    ["-D", "publish", "correlation-data", "req-42", "-D", "publish", "response-topic", "reply/x",
     "-D", "publish", "payload-format-indicator", "1", "-D", "publish", "message-expiry-interval",
     "100000"],
    ["-D", "publish", "payload-format-indicator", "0", "-D", "publish", "user-property", "a b", "",
     "-D", "publish", "content-type", "", "-D", "publish", "user-property", "", "x"],
]


def mosquitto_pub(broker, topic, msg, props, qos=0):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5",
                    "-t", topic, "-m", msg, "-q", str(qos), *props], check=True, timeout=30)


def publish_props(broker, topic):
    def go():
        for i, props in enumerate(PROPS):
            mosquitto_pub(broker, topic, "m%d" % i, props)
    return go


FORMATS = [
    "%t|%P|%C|%D|%F|%R|%A",
    "[%20C][%-20C][%.4C][%8R][%-8R][%5F][%-5F][%05F][%4A][%04A]",
    "%j",
]


@pytest.mark.parametrize("fmt", FORMATS, ids=range(len(FORMATS)))
@pytest.mark.parametrize("pretty", [[], ["--pretty"]], ids=["compact", "pretty"])
def test_sub_property_tokens(broker, daemon, fmt, pretty):
    t = uniq()
    if pretty and fmt != "%j":
        pytest.skip("--pretty only changes %j")
    res = run_pair(broker, daemon, V5, ["-t", t + "/#", "-C", str(len(PROPS)), "-F", fmt, *pretty],
                   [t + "/#"], publish_props(broker, t + "/x"))
    assert_same(res, mask=True)


def test_sub_expiry_counts_down_as_mosquitto_sub_shows_it(broker, daemon):
    t = uniq()
    res = run_pair(broker, daemon, V5, ["-t", t + "/#", "-C", "2", "-F", "%E|%5E|%-5E|"], [t + "/#"],
                   lambda: (mosquitto_pub(broker, t + "/e", "x", ["-D", "publish", "message-expiry-interval", "900"]),
                            mosquitto_pub(broker, t + "/e", "y", [])))
    (_, mout, _), (xrc, xout, _) = res
    assert xrc == 0
    # both got what the broker left of 900 s: the same but for a second boundary in between
    for a, b in zip(mout.split(b"\n"), xout.split(b"\n")):
        assert a.replace(b"899", b"900") == b.replace(b"899", b"900")


@pytest.mark.parametrize("props", PROPS[1:], ids=range(1, len(PROPS)))
def test_pub_D_sends_what_mosquitto_pub_sends(broker, daemon, props):
    t = uniq()
    fmt = "%p|%P|%C|%D|%F|%R|%E|%q"
    cid = "pyt-props-%s" % t.replace("/", "-")
    since = broker.log_size()
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5",
                            "-i", cid, "-t", t + "/#", "-C", "2", "-q", "1", "-F", fmt],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    broker.wait_subscribed(cid, t + "/#", since=since)
    # QoS 0: libmosquitto 2.0.11 crashes on an empty string property at QoS 1 and 2
    mosquitto_pub(broker, t + "/a", "same", props)
    r = daemon.cli("pub", "-s", "v5", "-t", t + "/a", "-m", "same", *props)
    assert r.returncode == 0, r.stderr
    out, _ = sub.communicate(timeout=60)
    lines = out.split(b"\n")
    assert len(lines) == 3 and lines[0] == lines[1], out


@pytest.mark.parametrize("args,why", [
    (["-D", "publish", "topic-alias", "1"], b"shared"),
    (["-D", "connect", "user-property", "a", "b"], b"only publish properties"),
    (["-D", "publish", "subscription-identifier", "3"], b"subscription identifier"),
    (["-D", "publish", "session-expiry-interval", "3"], b"not a PUBLISH property"),
    (["-D", "publish", "no-such-thing", "3"], b"not an MQTT 5 property name"),
    (["-D", "publish", "message-expiry-interval", "4294967296"], b"out of range"),
    (["-D", "publish", "user-property", "only-a-name"], b"missing"),
])
def test_pub_D_refusals_say_why(daemon, args, why):
    r = daemon.cli("pub", "-s", "v5", "-t", "pyt/refused", "-m", "x", *args)
    assert r.returncode == 64 and why in r.stderr, r.stderr


def test_pub_D_on_a_3_1_1_session_fails(daemon):
    r = daemon.cli("pub", "-s", "v311", "-t", "pyt/v3", "-m", "x", "-D", "publish", "content-type", "t")
    assert r.returncode == 1 and b"3.1.1" in r.stderr, r.stderr


def test_pub_D_string_that_is_not_mqtt_utf8_is_refused(daemon):
    r = daemon.cli("pub", "-s", "v5", "-t", "pyt/bad", "-m", "x", "-D", "publish", "content-type", "a\nb")
    assert r.returncode == 1 and b"-D properties were refused" in r.stderr, r.stderr
