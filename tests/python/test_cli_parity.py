# SPDX-License-Identifier: MIT
"""mqttmux sub / pub side by side with mosquitto_sub / mosquitto_pub (issue 16).

For each option both tools have, both run on the same broker with the same arguments (plus
`-s SESSION` for mqttmux, `-V` for mosquitto) on MQTT 3.1.1 and 5, and their stdout and exit
codes must be equal. Time stamps differ between two processes, so they are masked. Differences
by design are tested on their own at the end (docs/client.md lists them).
"""
import itertools
import os
import re
import subprocess
import tempfile

import pytest

from mmtest import MQTTMUX, wait_for

PROTOS = [("v311", "mqttv311"), ("v5", "mqttv5")]
_ids = itertools.count()


def uniq():
    return "pyt/%d-%d" % (os.getpid(), next(_ids))


def mpub(broker, topic, msg=None, qos=0, retain=False):
    args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic, "-q", str(qos)]
    args += ["-n"] if msg is None else ["-m", msg]
    if retain:
        args.append("-r")
    subprocess.run(args, check=True, timeout=30)


TIME_RES = [
    (re.compile(rb'"tst":\t?"[0-9T:.+\-]+Z[+\-]\d{4}"'), b'"tst":TST'),
    (re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+\-]\d{4}"), b"ISO"),
    (re.compile(rb"\d{9,}\.\d{9}"), b"UNIX"),
]


def mask_times(b):
    for r, s in TIME_RES:
        b = r.sub(s, b)
    return b


def run_pair(broker, daemon, proto, args, filters, publish=None, timeout=60, wait_sub=True):
    """Run mosquitto_sub and mqttmux sub with <args>; publish once both subscribed."""
    session, version = proto
    cid = "pyt-mosq-%d" % next(_ids)
    since = broker.log_size()
    mosq = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", version, "-i", cid,
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    mm = daemon.popen("sub", "-s", session, *args)
    if wait_sub:
        for f in filters:
            broker.wait_subscribed(cid, f, since=since)
            broker.wait_subscribed("mm-" + session, f, since=since)
    if publish:
        publish()
    res = []
    for p in (mosq, mm):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            out += b"<killed: timeout>"
        res.append((p.returncode, out, err))
    return res


def assert_same(res, mask=False):
    (mrc, mout, merr), (xrc, xout, xerr) = res
    if mask:
        mout, xout = mask_times(mout), mask_times(xout)
    assert (xrc, xout) == (mrc, mout), \
        "mosquitto_sub: rc %d %r %r\nmqttmux sub: rc %d %r %r" % (mrc, mout, merr, xrc, xout, xerr)


def publish_all(broker, topic, msgs, qos=0):
    def go():
        for m in msgs:
            mpub(broker, topic, m, qos)
    return go


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
@pytest.mark.parametrize("flags", [[], ["-v"], ["-N"], ["-v", "-N"]],
                         ids=["plain", "v", "N", "vN"])
def test_sub_plain_verbose_noeol(broker, daemon, proto, flags):
    t = uniq()
    res = run_pair(broker, daemon, proto, ["-t", t + "/#", "-C", "4", *flags], [t + "/#"],
                   publish_all(broker, t + "/a", ["one", None, "three", "four 4"]))
    assert_same(res)


FORMATS = [
    "%t|%p|%x|%X|%l|%q|%r|%%",
    "[%10t][%-10t][%.2t][%6.3t][%-6.3t][%05l][%-5l][%5l]",
    "[%3p][%-8p][%8p][%5x][%-9X][%08p]",
    "tab\\there\\\\\\e\\a\\v\\r",
    "%j",
    "%m %q",
    "@Y-@m-@d @@ %I %U",
]


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
@pytest.mark.parametrize("fmt", FORMATS, ids=range(len(FORMATS)))
def test_sub_format(broker, daemon, proto, fmt):
    t = uniq()
    res = run_pair(broker, daemon, proto, ["-t", t + "/#", "-C", "3", "-F", fmt], [t + "/#"],
                   publish_all(broker, t + "/x", ["hello", 'q"uo\\te\n\tctl\x01', None]))
    assert_same(res, mask=True)


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
@pytest.mark.parametrize("flags", [["-F", "%J"], ["-F", "%J", "--pretty"], ["-F", "%j", "--pretty"],
                                   ["-F", "%j%J", "-N"]], ids=["J", "Jpretty", "jpretty", "jJN"])
def test_sub_json(broker, daemon, proto, flags):
    t = uniq()
    payloads = ['{"b":[1,2.50,{"c":null}],"d":"\\u00e9\\/","e":{},"f":[],"g":1e3,"h":-0.1}',
                ' [true, false, "x\\ty", 12345678901, 0.1] ', "not json", "42", None]
    res = run_pair(broker, daemon, proto, ["-t", t, "-C", "5", *flags], [t],
                   publish_all(broker, t, payloads))
    assert_same(res, mask=True)


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_sub_qos(broker, daemon, proto, qos):
    t = uniq()
    res = run_pair(broker, daemon, proto, ["-t", t, "-C", "3", "-q", str(qos), "-F", "%q %p"],
                   [t], lambda: [mpub(broker, t, "m%d" % q, q) for q in (0, 1, 2)])
    assert_same(res)


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_sub_no_retained(broker, daemon, proto):
    t = uniq()
    mpub(broker, t + "/r", "stale", retain=True)
    res = run_pair(broker, daemon, proto, ["-t", t + "/#", "-C", "1", "-R", "-v"], [t + "/#"],
                   publish_all(broker, t + "/live", ["fresh"]))
    assert_same(res)
    assert res[0][1] == (t + "/live fresh\n").encode()


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_sub_retained_only(broker, daemon, proto):
    t = uniq()
    mpub(broker, t + "/r1", "old1", retain=True)
    mpub(broker, t + "/r2", "old2", retain=True)
    res = run_pair(broker, daemon, proto, ["-t", t + "/#", "--retained-only", "-v",
                                           "-F", "%t %p %r"], [t + "/#"],
                   publish_all(broker, t + "/live", ["fresh"]))
    assert_same(res)
    assert sorted(res[0][1].splitlines()) == [(t + "/r1 old1 1").encode(),
                                              (t + "/r2 old2 1").encode()]


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_sub_filter_out(broker, daemon, proto):
    t = uniq()
    res = run_pair(broker, daemon, proto, ["-t", t + "/#", "-C", "2", "-v", "-T", t + "/x/#",
                                           "-T", t + "/+/skip"], [t + "/#"],
                   lambda: [mpub(broker, t + s, s) for s in
                            ("/x/1", "/y", "/x", "/z/skip", "/x/2", "/z")])
    assert_same(res)
    assert res[0][1] == ("%s/y /y\n%s/z /z\n" % (t, t)).encode()


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_sub_exit_after_subscribe(broker, daemon, proto):
    t = uniq()
    res = run_pair(broker, daemon, proto, ["-t", t, "-E"], [t], wait_sub=False)
    assert_same(res)
    assert res[0][0] == 0


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_sub_unsubscribe(broker, daemon, proto):
    t = uniq()
    res = run_pair(broker, daemon, proto, ["-t", t + "/#", "-U", t + "/other", "-C", "1", "-v"],
                   [t + "/#"], publish_all(broker, t + "/a", ["x"]))
    assert_same(res)


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_sub_timeout_nothing(broker, daemon, proto):
    t = uniq()
    res = run_pair(broker, daemon, proto, ["-t", t, "-W", "1"], [t], wait_sub=False)
    assert_same(res)
    assert res[0][0] == 27 and res[0][1] == b""


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_sub_timeout_after_messages(broker, daemon, proto):
    t = uniq()
    res = run_pair(broker, daemon, proto, ["-t", t, "-W", "6", "-C", "5"], [t],
                   publish_all(broker, t, ["a", "b"]))
    assert_same(res)
    assert res[0][0] == 27 and res[0][1] == b"a\nb\n"


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_sub_quiet_timeout(broker, daemon, proto):
    t = uniq()
    res = run_pair(broker, daemon, proto, ["-t", t, "-W", "1", "--quiet"], [t], wait_sub=False)
    assert_same(res)
    assert res[0][2] == b"" and res[1][2] == b""


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_sub_count_within_timeout(broker, daemon, proto):
    t = uniq()
    res = run_pair(broker, daemon, proto, ["-t", t, "-W", "60", "-C", "1", "-q", "1"], [t],
                   publish_all(broker, t, ["only"], qos=1))
    assert_same(res)
    assert res[0][0] == 0


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_sub_remove_retained(broker, daemon, proto):
    # One tool after the other (the first to subscribe would clear the other's message).
    # mosquitto_sub 2.0.11 never exits with --remove-retained and -C (it waits for a
    # disconnect that does not come), so -W ends both: each prints the retained message, then
    # the empty message its own removal sent (the broker delivers it back), and exits 27.
    session, version = proto
    for tool in ("mosquitto", "mqttmux"):
        t = uniq()
        mpub(broker, t + "/r", "stale", retain=True)
        args = ["-t", t + "/#", "--remove-retained", "-W", "5", "-v"]
        if tool == "mosquitto":
            r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port),
                                "-V", version, *args], capture_output=True, timeout=60)
        else:
            r = daemon.cli("sub", "-s", session, *args)
        assert (r.returncode, r.stdout) == (27, ("%s/r stale\n%s/r (null)\n" % (t, t)).encode()), \
            (tool, r)

        def cleared():
            c = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port),
                                "-t", t + "/#", "-W", "1"], capture_output=True, timeout=30)
            return c.stdout == b""
        wait_for(cleared, 30, tool + " --remove-retained to clear " + t)


@pytest.mark.parametrize("args", [["-q", "3"], ["-C", "0"], ["-W", "0"], ["-F", "%k"],
                                  ["-F", "%"], ["-F", "\\k"], ["-R", "--retained-only"], []])
def test_sub_bad_usage_fails_on_both(broker, daemon, args):
    t = uniq()
    targs = ["-t", t] if args else []
    m = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), *targs, *args, "-W", "1"],
                       capture_output=True, timeout=30)
    x = daemon.cli("sub", *targs, *args, "-W", "1")
    assert m.returncode != 0 and m.returncode != 27, m
    assert x.returncode == 64 and x.stderr, x


# ---- pub ----

def observe(broker, topic, count):
    """A mosquitto_sub at QoS 2 that prints 'qos retain len payload' for <count> messages."""
    since = broker.log_size()
    cid = "pyt-obs-%d" % next(_ids)
    p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-i", cid, "-t", topic,
                          "-q", "2", "-C", str(count), "-W", "60", "-F", "%q %r %l %x"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    broker.wait_subscribed(cid, topic, since=since)
    return p


def pub_pair(broker, daemon, proto, args, count, stdin=None, mm_args=None):
    """mosquitto_pub and mqttmux pub with <args>; what a QoS 2 observer saw of each, and rcs."""
    session, version = proto
    seen = []
    for tool in ("mosquitto", "mqttmux"):
        t = uniq()
        obs = observe(broker, t, count)
        targs = ["-t", t, *(mm_args if mm_args is not None and tool == "mqttmux" else args)]
        if tool == "mosquitto":
            r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", version, *targs],
                               input=stdin, capture_output=True, timeout=60)
        else:
            r = daemon.cli("pub", "-s", session, *targs, input=stdin)
        out, err = obs.communicate(timeout=90)
        seen.append((r.returncode, obs.returncode, out))
    assert seen[0] == seen[1], "mosquitto_pub: %r\nmqttmux pub: %r" % tuple(seen)
    return seen[0]


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("retain", [False, True], ids=["", "r"])
def test_pub_message(broker, daemon, proto, qos, retain):
    args = ["-m", "hello world", "-q", str(qos)] + (["-r"] if retain else [])
    rc, orc, out = pub_pair(broker, daemon, proto, args, 1)
    assert rc == 0 and out == b"%d %d 11 68656c6c6f20776f726c64\n" % (qos, 0)


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_pub_null_message(broker, daemon, proto):
    rc, _, out = pub_pair(broker, daemon, proto, ["-n", "-q", "1"], 1)
    assert rc == 0 and out == b"1 0 0 \n"


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_pub_file(broker, daemon, proto):
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"line1\nline2\x00binary\xff\n")
        f.flush()
        rc, _, out = pub_pair(broker, daemon, proto, ["-f", f.name, "-q", "1"], 1)
    assert rc == 0 and out.startswith(b"1 0 20 ")


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_pub_lines(broker, daemon, proto):
    rc, _, out = pub_pair(broker, daemon, proto, ["-l", "-q", "1"], 4,
                          stdin=b"first\n\nthird line\nlast-no-newline")
    assert rc == 0 and len(out.splitlines()) == 4


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_pub_stdin_file(broker, daemon, proto):
    rc, _, out = pub_pair(broker, daemon, proto, ["-s", "-q", "1"], 1,
                          stdin=b"all\nof stdin\n", mm_args=["--stdin-file", "-q", "1"])
    assert rc == 0 and out.startswith(b"1 0 13 ")


@pytest.mark.parametrize("proto", PROTOS, ids=[p[0] for p in PROTOS])
def test_pub_repeat(broker, daemon, proto):
    rc, _, out = pub_pair(broker, daemon, proto, ["-m", "again", "--repeat", "3",
                                                  "--repeat-delay", "0.2", "-q", "1"], 3)
    assert rc == 0 and out == b"1 0 5 616761696e\n" * 3


@pytest.mark.parametrize("args", [["-q", "3", "-m", "x"], ["-m", "x", "-n"], ["-m", "x", "-l"],
                                  ["-f", "/nonexistent/file"], ["--repeat", "0", "-m", "x"],
                                  ["--repeat-delay", "-1", "-m", "x"]])
def test_pub_bad_usage_fails_on_both(broker, daemon, args):
    t = uniq()
    m = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", t, *args],
                       capture_output=True, timeout=30)
    x = daemon.cli("pub", "-s", "v5", "-t", t, *args)
    assert m.returncode != 0, m
    assert x.returncode != 0 and x.stderr, x


# ---- differences by design (docs/client.md) ----

def test_pub_s_names_the_session(daemon):
    r = daemon.cli("pub", "-t", "x", "-s", input=b"payload")
    assert r.returncode == 64 and b"--stdin-file" in r.stderr, r
    r = daemon.cli("pub", "-s", "-t", "x", "-m", "y")
    assert r.returncode == 64 and b"--stdin-file" in r.stderr, r


def test_pub_without_session_needs_one_when_several(daemon):
    r = daemon.cli("pub", "-t", "x", "-m", "y")
    assert r.returncode == 1 and b"v311, v5" in r.stderr and b"-s SESSION" in r.stderr, r


@pytest.mark.parametrize("opt", [["-h", "localhost"], ["-p", "1883"], ["--cafile", "x"],
                                 ["-i", "id"], ["-V", "mqttv5"], ["-d"]])
def test_connection_options_say_where_they_live(daemon, opt):
    for cmd in (["sub", "-t", "x"], ["pub", "-t", "x", "-m", "y"]):
        r = daemon.cli(*cmd, *opt)
        assert r.returncode == 64 and b"mqttmux " + cmd[0].encode() in r.stderr, r
        assert b"session" in r.stderr or b"runtime directory" in r.stderr, r


def test_session_token(broker, daemon):
    t = uniq()
    p = daemon.popen("sub", "-t", t, "-C", "2", "-F", "%S %t %p")
    since = 0
    broker.wait_subscribed("mm-v311", t, since=since)
    broker.wait_subscribed("mm-v5", t, since=since)
    mpub(broker, t, "both")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0
    assert sorted(out.splitlines()) == [b"v311 %s both" % t.encode(), b"v5 %s both" % t.encode()]


def test_random_filter_100_prints_all(broker, daemon):
    t = uniq()
    p = daemon.popen("sub", "-s", "v5", "-t", t, "-C", "5", "--random-filter", "100")
    broker.wait_subscribed("mm-v5", t)
    for i in range(5):
        mpub(broker, t, str(i))
    out, _ = p.communicate(timeout=60)
    assert (p.returncode, out) == (0, b"0\n1\n2\n3\n4\n")
