# SPDX-License-Identifier: MIT
"""Every malformed case of issue 12 from a hostile broker (hostile_broker.py), one connection
each, on MQTT 3.1.1 and 5, while a second session streams QoS 1 from a real mosquitto:

  wildcard, NUL and invalid UTF-8 topics; a remaining length of 268,435,455 (followed by 64 MiB
  the worker must never read); a topic length past the end of the packet; QoS 3; packet id 0;
  garbage MQTT 5 properties; an undefined topic alias; a SUBACK without reason codes; and a
  poison message, redelivered on every connection until it is acknowledged.

Nothing bad reaches the client (only the markers "good/..." and, on 3.1.1, a message whose
"properties" are an ordinary payload there), the second session loses nothing, no sanitizer
reports, the worker's peak RSS (/proc VmHWM) does not grow by the size the broker announces,
the oversized packet is refused and counted, only the poison message kills workers (twice:
2 restarts), and it is then quarantined: acknowledged, kept in state_dir/quarantine,
counted and reported. MQTT 5's poison is real: libmosquitto 2.0.11 aborts on an unknown
property identifier. Under 3.1.1 no packet is known to abort it, so the worker aborts on the
topic MQTTMUX_WORKER_TEST_ABORT_TOPIC names (worker/wrk_guard.c). The oversized packet and
the poison are played over TLS too, where libmosquitto reads MQTT with SSL_read."""
import glob
import os
import re
import ssl
import struct
import subprocess
import threading

import pytest

import mmtest
from hostile_broker import HostileBroker, Step, publish, varint

POISON_MID = 77
STREAM = 20  # QoS 1 messages of the second session, at least


def vm_hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) * 1024


def worker_pid(d, name):
    st = d.cli("status", "--json")
    m = re.search(rb'"name":\s*"%s"[^}]*"pid":\s*(\d+)' % name.encode(), st.stdout)
    return int(m.group(1)) if m else None


def steps(v5):
    good = lambda name: publish(b"good/" + name, b"ok", v5)  # noqa: E731
    pub = lambda *a, **k: publish(*a, v5=v5, **k)  # noqa: E731
    head = b"\x30" + varint(268435455)  # the largest remaining length MQTT has
    alias = pub(b"", b"aliased", qos=1, mid=9, props=b"\x23\x00\x05")  # alias 5: never set
    no_codes = b"\x90\x03\x00\x01\x00" if v5 else b"\x90\x02\x00\x01"  # a SUBACK: id only
    if v5:
        poison = pub(b"poison/x", b"bad", qos=1, mid=POISON_MID, props=b"\xff\x01")
    else:
        poison = pub(b"poison/x", b"bad", qos=1, mid=POISON_MID)
    return [
        Step("wildcard", [pub(b"a/+/b", b"w"), pub(b"a/#", b"w"),
                          pub(b"+", b"w", qos=1, mid=7), good(b"wildcard")]),
        Step("nul", [pub(b"a\x00b", b"n", qos=1, mid=8), good(b"nul")]),
        Step("utf8", [pub(b"a\xff\xfeb", b"u", qos=1, mid=10), good(b"utf8")]),
        Step("remaining_length", [head], stream=64 << 20),
        Step("topic_past_packet", [b"\x30\x05\x01\x00abc", good(b"topic_past_packet")]),
        Step("qos3", [b"\x36" + pub(b"t/q3", b"q", qos=1, mid=11)[1:], good(b"qos3")]),
        Step("packet_id_0", [pub(b"t/id0", b"z", qos=1, mid=0), good(b"packet_id_0")]),
        # two payload format indicators (a protocol error); under 3.1.1 plain payload bytes
        Step("properties", [publish(b"ok311/props", b"p", True, qos=1, mid=12,
                                    props=b"\x01\x01\x01\x01"), good(b"properties")]),
        Step("topic_alias", [alias, good(b"topic_alias")]),
        Step("suback", [good(b"suback")], suback=no_codes),
        Step("poison1", [poison]),
        Step("poison2", [poison]),
        Step("poison3", [poison, good(b"end")], close=False),
    ]


def stream(broker, v5, done, sent):
    """QoS 1 to the real broker until <done> is set, STREAM messages at least."""
    while not done.is_set() or len(sent) < STREAM:
        i = len(sent)
        p = subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", "r/%d" % i,
                            "-m", "m%d" % i, "-V", "mqttv5" if v5 else "mqttv311"],
                           capture_output=True, timeout=60)
        assert p.returncode == 0, p
        sent.append(b"m%d" % i)


def lines_until(proc, last, out):
    for line in proc.stdout:
        out.append(line.rstrip(b"\n"))
        if out[-1] == last:
            return


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_every_malformed_case_from_a_broker(broker, protocol):
    v5 = protocol == "5"
    seen = {}  # the hostile session's worker, sampled when a step starts

    def on_step(n, step):
        if step.name in ("remaining_length", "poison1"):
            pid = worker_pid(d, "hb")
            seen[step.name] = (pid, vm_hwm(pid), d.cli("status", "--json").stdout)

    hb = HostileBroker(v5, steps=steps(v5), on_step=on_step)
    since = broker.log_size()  # the broker serves both protocols' runs: this one's lines
    fast = "reconnect = { initial = 0.1; max = 0.2; };"
    d = mmtest.Daemon(broker, [{"name": "hb", "port": hb.port, "protocol": protocol,
                                "extra": fast},
                               {"name": "real", "protocol": protocol}], wait=False,
                      env={"MQTTMUX_WORKER_TEST_ABORT_TOPIC": "" if v5 else "poison/x"})
    done, sent, got_real, got_hb = threading.Event(), [], [], []
    real = hbsub = None
    try:
        assert d.cli("wait", "-s", "real", "-t", "60").returncode == 0, d.text()
        real = d.popen("sub", "-s", "real", "-t", "r/#", "-q", "1")
        broker.wait_subscribed("mm-real", "r/#", since=since)
        pub = threading.Thread(target=stream, args=(broker, v5, done, sent))
        pub.start()
        hbsub = d.popen("sub", "-s", "hb", "-t", "#", "-q", "1", "-v")
        reader = threading.Thread(target=lines_until, args=(hbsub, b"good/end ok", got_hb))
        reader.start()
        reader.join(240)
        done.set()
        pub.join(240)
        assert got_hb and got_hb[-1] == b"good/end ok", (hb.played, got_hb, d.text())
        rreader = threading.Thread(target=lines_until,
                                   args=(real, sent[-1] if sent else b"", got_real))
        rreader.start()
        rreader.join(120)
        assert got_real == sent, (len(got_real), len(sent), got_real[:3])

        allowed = {b"ok311/props \x04\x01\x01\x01\x01p"} if not v5 else set()
        bad = [m for m in got_hb if not m.startswith(b"good/") and m not in allowed]
        assert not bad, bad
        assert hb.played[-1] == "poison3", hb.played
        # the poison is acknowledged (written after the stand-in is committed, so maybe
        # after the client printed the next message)
        mmtest.wait_for(lambda: POISON_MID in hb.pubacks, 30, "the poison's PUBACK")

        m = d.cli("metrics").stdout
        count = lambda name: int(re.search(  # noqa: E731
            rb'mqttmux_session_%s\{session="hb"\} (\d+)' % name.encode(), m).group(1))
        assert count("packets_refused_total") == 1, m
        assert count("quarantined_total") == 1, m
        assert count("invalid_dropped_total") >= 3, m
        st = d.cli("status", "--json").stdout.replace(b" ", b"")
        assert re.search(rb'"name":"hb"[^}]*"restarts":2\b', st), st  # the poison's 2 deaths
        assert re.search(rb'"name":"real"[^}]*"restarts":0\b', st), st
        # every case before the poison: the first worker, never restarted
        pid, before, _ = seen["remaining_length"]
        pid2, after, st1 = seen["poison1"]
        assert pid == pid2 and b'"restarts":0' in st1.replace(b" ", b""), (pid, pid2, st1)
        print("worker VmHWM: %d KiB before the 256 MiB packet, %d KiB after every case"
              % (before >> 10, after >> 10))
        assert after - before < 8 << 20, (before, after)  # 64 MiB were sent after the header

        kept = glob.glob(os.path.join(d.dir, "state", "quarantine", "hb-*.mqtt"))
        assert len(kept) == 1, kept
        with open(kept[0], "rb") as f:
            assert f.read() == steps(v5)[-1].packets[0]
        text = d.text()
        assert '"type":"message_quarantined","session":"hb"' in text, text
        assert "over the bound" in text, text
        assert "AddressSanitizer" not in text and "runtime error:" not in text, text
    finally:
        done.set()
        for p in (real, hbsub):
            if p:
                p.kill()
                p.wait()
        d.close()
        hb.close()


def tls_context(d):
    """A certificate for 127.0.0.1 (self-signed: it is its own CA file) and a server context."""
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx, cert


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_a_tls_broker_is_bounded_and_its_poison_quarantined(broker, protocol, tmp_path):
    """The same guard on a TLS session, where libmosquitto reads MQTT with SSL_read: the
    oversized packet is refused from its header, and the poison is quarantined."""
    v5 = protocol == "5"
    ctx, cert = tls_context(str(tmp_path))
    seen = {}
    poison = steps(v5)[-1].packets[0]
    tls_steps = [Step("remaining_length", [b"\x30" + varint(268435455)], stream=64 << 20,
                      close=False),
                 Step("poison1", [poison], close=False), Step("poison2", [poison], close=False),
                 Step("poison3", [poison, publish(b"good/end", b"ok", v5)], close=False)]

    def on_step(n, step):
        if step.name in ("remaining_length", "poison1"):
            pid = worker_pid(d, "hb")
            seen[step.name] = (pid, vm_hwm(pid))

    hb = HostileBroker(v5, steps=tls_steps, on_step=on_step, tls=ctx)
    d = mmtest.Daemon(broker, [{"name": "hb", "port": hb.port, "protocol": protocol,
                                "scheme": "ssl",
                                "extra": 'reconnect = { initial = 0.1; max = 0.2; }; '
                                         'tls = { ca_file = "%s"; };' % cert}], wait=False,
                      env={"MQTTMUX_WORKER_TEST_ABORT_TOPIC": "" if v5 else "poison/x"})
    got, sub = [], None
    try:
        sub = d.popen("sub", "-s", "hb", "-t", "#", "-q", "1", "-v")
        reader = threading.Thread(target=lines_until, args=(sub, b"good/end ok", got))
        reader.start()
        reader.join(240)
        assert got == [b"good/end ok"], (hb.played, got, d.text())
        mmtest.wait_for(lambda: POISON_MID in hb.pubacks, 30, "the poison's PUBACK")
        m = d.cli("metrics").stdout
        assert b'mqttmux_session_packets_refused_total{session="hb"} 1\n' in m, m
        assert b'mqttmux_session_quarantined_total{session="hb"} 1\n' in m, m
        (pid, before), (pid2, after) = seen["remaining_length"], seen["poison1"]
        assert pid == pid2 and after - before < 8 << 20, (pid, pid2, before, after)
        print("TLS worker VmHWM: %d KiB before the 256 MiB packet, %d KiB after"
              % (before >> 10, after >> 10))
        text = d.text()
        assert "AddressSanitizer" not in text and "runtime error:" not in text, text
    finally:
        if sub:
            sub.kill()
            sub.wait()
        d.close()
        hb.close()
