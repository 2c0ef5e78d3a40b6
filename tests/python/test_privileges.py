# SPDX-License-Identifier: MIT
"""Privileges (issue 12, docs/security.md): the workers and the router run under the seccomp
allow-list (on by default, `seccomp = false` turns it off), a worker that calls execve is
killed by SIGSYS and restarted, and no process of the daemon is dumpable."""
import json
import os
import pwd
import re
import subprocess

import pytest

import mmtest


def sanitized():
    """A sanitizer build runs its children without the filter (common/sandbox.c)."""
    with open(mmtest.WORKER, "rb") as f:
        return b"libasan.so" in f.read()


filtered = pytest.mark.skipif(sanitized(), reason="sanitizer builds run without the filter")


def status(d):
    r = d.cli("status", "--json")
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def session(d, name):
    for s in status(d):
        if s["name"] == name:
            return s
    raise AssertionError("no session %s in status" % name)


def proc_field(pid, key):
    """A line of /proc/PID/status ("Seccomp", "Uid", ...), or None if the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == key:
                    return v.split()
    except FileNotFoundError:
        return None
    return None


def children(pid):
    """The pids of <pid>'s children (the router and the workers of a daemon)."""
    out = []
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(p) for p in f.read().split()]
        except FileNotFoundError:
            pass
    return out


def exe_name(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return os.path.basename(f.read().split(b"\0")[0]).decode()
    except FileNotFoundError:
        return ""


def kids(d, name):
    """The daemon's children running <name> (mqttmux-worker or mqttmux-router)."""
    return [p for p in children(d.proc.pid) if exe_name(p) == name]


@filtered
@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_workers_and_router_run_under_the_filter(broker, protocol):
    d = mmtest.Daemon(broker, [{"name": "s", "protocol": protocol}])
    try:
        procs = mmtest.wait_for(lambda: len(kids(d, "mqttmux-worker")) == 1 and
                                len(kids(d, "mqttmux-router")) == 1 and
                                kids(d, "mqttmux-worker") + kids(d, "mqttmux-router"),
                                20, "a worker and a router")
        for pid in procs:
            # 2: SECCOMP_MODE_FILTER
            assert proc_field(pid, "Seccomp") == ["2"], (pid, exe_name(pid))
            assert proc_field(pid, "NoNewPrivs") == ["1"], pid
        # the daemon itself is not filtered (it spawns, it reloads, it drops privileges)
        assert proc_field(d.proc.pid, "Seccomp") == ["0"]
        # and everything still works through the filter: a message end to end
        since = broker.log_size()  # the other protocol's run subscribed the same
        sub = d.popen("sub", "-s", "s", "-t", "f/#", "-C", "1")
        broker.wait_subscribed("mm-s", "f/#", since=since)
        assert d.cli("pub", "-s", "s", "-t", "f/1", "-m", "through").returncode == 0
        out, err = sub.communicate(timeout=30)
        assert b"through" in out, (out, err)
    finally:
        d.close()


def test_seccomp_false_turns_the_filter_off(broker):
    d = mmtest.Daemon(broker, [{"name": "s"}], extra="seccomp = false;")
    try:
        procs = mmtest.wait_for(lambda: len(kids(d, "mqttmux-worker")) == 1 and
                                len(kids(d, "mqttmux-router")) == 1 and
                                kids(d, "mqttmux-worker") + kids(d, "mqttmux-router"),
                                20, "a worker and a router")
        for pid in procs:
            assert proc_field(pid, "Seccomp") == ["0"], pid
    finally:
        d.close()


@filtered
def test_a_worker_that_calls_execve_is_killed_and_restarted(broker, monkeypatch):
    # MQTTMUX_TEST_EXECVE (honoured only by builds with tests, worker/main.c): the first
    # worker of session "bad" calls execve once its filter is on
    monkeypatch.setenv("MQTTMUX_TEST_EXECVE", "bad")
    d = mmtest.Daemon(broker, [{"name": "bad"}, {"name": "good"}])
    try:
        assert re.search(r"session 'bad': worker \[\d+\] killed by signal 31", d.text()), \
            d.text()
        assert "test: calling execve under the filter" in d.text()
        # restarted, and ready again (Daemon waited for every session)
        bad = session(d, "bad")
        assert bad["restarts"] >= 1, bad
        assert bad["state"] in ("connected", "ready"), bad
        assert session(d, "good")["restarts"] == 0
        m = d.cli("metrics")
        assert m.returncode == 0
        assert re.search(rb'mqttmux_session_worker_restarts_total\{session="bad"\} [1-9]',
                         m.stdout), m.stdout
        assert re.search(rb'mqttmux_session_worker_restarts_total\{session="good"\} 0',
                         m.stdout), m.stdout
    finally:
        d.close()


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody here")


def not_dumpable(pid):
    """The files in /proc/PID belong to root when the process is not dumpable (and to its uid
    when it is): the kernel's task_dump_owner(). Meaningful for a process that does not run as
    root. (The /proc/PID directory itself may keep the uid it was first seen with.)"""
    return os.stat("/proc/%d/status" % pid).st_uid == 0


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to drop privileges")
def test_user_drops_privileges_and_the_daemon_still_works(broker):
    pw = nobody()
    d = mmtest.Daemon(broker, [{"name": "s311", "protocol": "3.1.1"},
                               {"name": "s5", "protocol": "5"}],
                      extra='user = "nobody";')
    try:
        assert "running as uid %d gid %d" % (pw.pw_uid, pw.pw_gid) in d.text(), d.text()
        procs = mmtest.wait_for(lambda: len(kids(d, "mqttmux-worker")) == 2 and
                                len(kids(d, "mqttmux-router")) == 1 and
                                kids(d, "mqttmux-worker") + kids(d, "mqttmux-router"),
                                20, "two workers and a router")
        for pid in [d.proc.pid] + procs:
            uid, gid = proc_field(pid, "Uid"), proc_field(pid, "Gid")
            assert uid == [str(pw.pw_uid)] * 4, (pid, exe_name(pid), uid)
            assert gid == [str(pw.pw_gid)] * 4, (pid, exe_name(pid), gid)
            assert proc_field(pid, "Groups") in ([], [str(pw.pw_gid)]), pid
            # every process holding a secret (mqttmuxd, the workers) and the router
            assert not_dumpable(pid), (pid, exe_name(pid))
            assert os.stat("/proc/%d/mem" % pid).st_uid == 0, pid
        # the check tells the difference: a dumpable process of the same user
        other = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: (
            os.setgroups([]), os.setgid(pw.pw_gid), os.setuid(pw.pw_uid)))
        try:
            mmtest.wait_for(lambda: proc_field(other.pid, "Uid") == [str(pw.pw_uid)] * 4,
                            10, "sleep as nobody")
            assert not not_dumpable(other.pid)
        finally:
            other.kill()
            other.wait()
        assert os.stat(os.path.join(d.run, "router.sock")).st_uid == pw.pw_uid
        # end to end, both protocols: a client subscribes and receives
        for name in ("s311", "s5"):
            since = broker.log_size()
            sub = d.popen("sub", "-s", name, "-t", "p/#", "-C", "1")
            broker.wait_subscribed("mm-" + name, "p/#", since=since)
            assert d.cli("pub", "-s", name, "-t", "p/x", "-m", "hi " + name).returncode == 0
            out, err = sub.communicate(timeout=30)
            assert ("hi " + name).encode() in out, (out, err)
        # a restarted worker runs as that user too
        assert d.cli("session", "restart", "s5").returncode == 0
        mmtest.wait_for(lambda: d.cli("wait", "-s", "s5", "-t", "1").returncode == 0, 30, "s5 back")
        for pid in kids(d, "mqttmux-worker"):
            assert proc_field(pid, "Uid") == [str(pw.pw_uid)] * 4
    finally:
        d.close()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to drop privileges")
def test_a_user_that_does_not_exist_is_a_config_error(broker):
    with pytest.raises(AssertionError, match="no such user"):
        mmtest.Daemon(broker, [{"name": "s"}], extra='user = "no-such-user-mqttmux";')
