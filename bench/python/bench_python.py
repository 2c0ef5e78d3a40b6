#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Python subscribers, same run (issue 16): the mqttmux binding (python/mqttmux, a callback
route through the router) against paho-mqtt subscribing to the broker directly, on one
stream. Both subscribe the same topic on one private mosquitto; mosquitto_pub -l publishes N
messages of SIZE bytes at QoS 0; each subscriber is its own process and counts until it has N
(or goes idle). Prints messages/s (first to last message) and CPU per message (user + system
of the subscriber process, from /proc), and for mqttmux also the CPU of the session's worker
and of the router over the same run (from the daemon's process_cpu_seconds_total).

    bench/python/bench_python.py [--messages N] [--size BYTES] [--rounds R] [--build DIR]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "python"))

SUB = r'''
import json, os, sys, time
n, mode, topic, port, rundir = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
st = {"count": 0, "first": 0.0, "last": 0.0}
def got(size):
    now = time.monotonic()
    if not st["count"]:
        st["first"] = now
    st["count"] += 1
    st["last"] = now
def cpu():
    f = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
if mode == "mqttmux":
    sys.path.insert(0, os.path.join(os.environ["MM_SRC"], "python"))
    import mqttmux
    c = mqttmux.Client(rundir)
    c.set_route_qos(0)
    c.handle(topic, lambda m: got(len(m.payload)), session="s")
    ready = lambda: None
    def run(deadline):
        while st["count"] < n and time.monotonic() < deadline:
            c.dispatch(1.0)
            if st["count"] and time.monotonic() - st["last"] > 5:
                break
else:
    import paho.mqtt.client as paho
    c = paho.Client(client_id="bench-paho")
    subscribed = []
    c.on_message = lambda cl, ud, m: got(len(m.payload))
    c.on_subscribe = lambda *a: subscribed.append(1)
    c.connect("127.0.0.1", port)
    c.subscribe(topic, 0)
    while not subscribed:
        c.loop(1.0)
    def run(deadline):
        while st["count"] < n and time.monotonic() < deadline:
            c.loop(1.0)
            if st["count"] and time.monotonic() - st["last"] > 5:
                break
print("ready", flush=True)
sys.stdin.readline()
c0 = cpu()
run(time.monotonic() + 600)
c1 = cpu()
print(json.dumps({"count": st["count"], "secs": st["last"] - st["first"], "cpu": c1 - c0}),
      flush=True)
'''


def proc_cpu(d, kind):
    """process_cpu_seconds_total of the daemon's <kind> (worker of session s, router)."""
    text = d.cli("metrics").stdout.decode()
    lab = '{kind="worker",session="s"}' if kind == "worker" else '{kind="router"}'
    m = re.search(r"^process_cpu_seconds_total%s (\S+)$" % re.escape(lab), text, re.M)
    return float(m.group(1)) if m else 0.0


def one_round(broker, d, n, size):
    subs = {}
    env = dict(os.environ, MM_SRC=SRC, MQTTMUX_LIBRARY=os.path.join(
        os.environ["MQTTMUX_BUILD"], "shm", "client", "libmqttmux.so.0"))
    since = broker.log_size()
    for mode in ("mqttmux", "paho"):
        subs[mode] = subprocess.Popen([sys.executable, "-c", SUB, str(n), mode, "bench/x",
                                       str(broker.port), d.run], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, env=env, text=True)
        assert subs[mode].stdout.readline().strip() == "ready"
    broker.wait_subscribed("mm-s", "bench/x", since=since)
    w0, r0 = proc_cpu(d, "worker"), proc_cpu(d, "router")
    for p in subs.values():
        p.stdin.write("go\n")
        p.stdin.flush()
    with tempfile.TemporaryFile() as f:
        f.write((b"x" * (size - 1) + b"\n") * n)
        f.seek(0)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t",
                        "bench/x", "-q", "0", "-l"], stdin=f, check=True, timeout=600)
    res = {m: json.loads(p.stdout.readline()) for m, p in subs.items()}
    for p in subs.values():
        p.wait(60)
    res["daemon"] = {"worker": proc_cpu(d, "worker") - w0, "router": proc_cpu(d, "router") - r0}
    return res


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    a = ap.parse_args()
    os.environ["MQTTMUX_BUILD"] = os.path.abspath(a.build)
    import mmtest
    broker = mmtest.Broker()
    d = mmtest.Daemon(broker, [{"name": "s", "protocol": "3.1.1"}])
    rounds = []
    try:
        for _ in range(a.rounds):
            rounds.append(one_round(broker, d, a.messages, a.size))
    finally:
        d.close()
        broker.close()
    print("%d messages of %d B, QoS 0, %d rounds (medians); load average %s" % (
        a.messages, a.size, a.rounds, open("/proc/loadavg").read().split()[0]))
    print("%-22s %9s %10s %12s" % ("subscriber", "received", "msgs/s", "CPU us/msg"))
    for m in ("mqttmux", "paho"):
        cnt = median([r[m]["count"] for r in rounds])
        rate = median([r[m]["count"] / r[m]["secs"] if r[m]["secs"] else 0 for r in rounds])
        cpu = median([r[m]["cpu"] / r[m]["count"] * 1e6 if r[m]["count"] else 0 for r in rounds])
        print("%-22s %9d %10.0f %12.2f" % ("python " + m, cnt, rate, cpu))
    w = median([r["daemon"]["worker"] / max(1, r["mqttmux"]["count"]) * 1e6 for r in rounds])
    rt = median([r["daemon"]["router"] / max(1, r["mqttmux"]["count"]) * 1e6 for r in rounds])
    print("%-22s %9s %10s %12.2f" % ("  + mqttmux worker", "", "", w))
    print("%-22s %9s %10s %12.2f" % ("  + mqttmux router", "", "", rt))


if __name__ == "__main__":
    main()
