# SPDX-License-Identifier: MIT
"""clients.allow_uids / allow_gids (issue 16): names as well as ids, and supplementary groups
count, on both the control socket and the router socket. The clients run as "nobody" with
groups the test picks, so the test needs root (else it is skipped)."""
import grp
import os
import pwd
import subprocess

import pytest

import mmtest


EXTRA_GID = 4242  # a supplementary group no user has as primary


def nobody():
    try:
        pw = pwd.getpwnam("nobody")
        gr = grp.getgrgid(pw.pw_gid)
    except KeyError:
        pytest.skip("no user nobody here")
    return pw, gr


def as_nobody(d, groups, *args):
    pw, _ = nobody()

    def drop():
        os.setgroups(groups)
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return subprocess.run([mmtest.MQTTMUX, *args], env=d.env, capture_output=True, timeout=60,
                          preexec_fn=drop)


def daemon(broker, clients):
    d = mmtest.Daemon(broker, [{"name": "s"}], extra="clients = { %s };" % clients)
    # the file modes let nobody reach the sockets: the daemon's own check is what is tested
    os.chmod(d.dir, 0o755)
    os.chmod(d.run, 0o755)
    for sock in ("control.sock", "router.sock"):
        os.chmod(os.path.join(d.run, sock), 0o666)
    return d


def allowed(d, groups):
    ctl = as_nobody(d, groups, "status")
    rtr = as_nobody(d, groups, "sub", "-s", "s", "-t", "a", "-E")
    assert ctl.returncode == rtr.returncode, (ctl, rtr)
    if ctl.returncode:
        assert b"permission denied" in ctl.stderr or b"denied" in ctl.stderr, ctl
        assert b"denied" in rtr.stderr or b"Permission" in rtr.stderr, rtr
    return ctl.returncode == 0


@pytest.mark.parametrize("clients,groups,ok", [
    ("", [], False),
    ('allow_uids = [ "nobody" ];', [], True),
    ("allow_uids = ( 1, \"nobody\" );", [], True),
    ("allow_gids = [ %d ];" % EXTRA_GID, [], False),
    ("allow_gids = [ %d ];" % EXTRA_GID, [EXTRA_GID], True),
    ("allow_gids = [ %d ];" % EXTRA_GID, [5, EXTRA_GID, 7], True),
    ('allow_gids = [ "@PRIMARY@" ];', [], True),
], ids=["nothing", "user-name", "mixed-list", "gid-not-held", "supplementary",
        "one-of-several", "primary-group-name"])
@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run clients as nobody")
def test_who_may_connect(broker, clients, groups, ok):
    _, gr = nobody()
    d = daemon(broker, clients.replace("@PRIMARY@", gr.gr_name))
    try:
        assert allowed(d, groups) == ok
    finally:
        d.close()


def test_unknown_names_are_config_errors(tmp_path):
    cfg = tmp_path / "access.cfg"
    cfg.write_text('clients = { allow_uids = [ "no-such-user-x" ];\n'
                   '            allow_gids = [ "no-such-group-x" ]; };\nsessions = ();\n')
    r = subprocess.run([mmtest.MQTTMUXD, "--check", "-c", str(cfg)], capture_output=True,
                       timeout=30)
    assert r.returncode == 78, r
    assert b"no such user 'no-such-user-x'" in r.stderr, r
    assert b"no such group 'no-such-group-x'" in r.stderr, r


def router_of(d):
    """The pid of the daemon's router (a child of mqttmuxd running mqttmux-router)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == d.proc.pid and cmd.endswith(b"mqttmux-router"):
            return int(pid)
    return None


def blocked_on_a_socket(pid):
    """Has <pid> connected a socket and gone to sleep (after sending its HELLO)?"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        fds = os.listdir("/proc/%d/fd" % pid)
        return state == "S" and any(os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
                                    for fd in fds)
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run clients as nobody")
def test_a_refused_client_reads_why_even_when_the_router_was_busy(broker):
    """The router accepts late (stopped here), so the client's HELLO is already queued when it
    refuses: the client must still read "permission denied", not ECONNRESET."""
    import signal
    pw, _ = nobody()
    d = daemon(broker, "")
    try:
        rtr = mmtest.wait_for(lambda: router_of(d), what="the router")
        os.kill(rtr, signal.SIGSTOP)
        try:
            def drop():
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
            p = subprocess.Popen([mmtest.MQTTMUX, "sub", "-s", "s", "-t", "a", "-E"], env=d.env,
                                 stderr=subprocess.PIPE, preexec_fn=drop)
            mmtest.wait_for(lambda: blocked_on_a_socket(p.pid), what="the client's HELLO")
        finally:
            os.kill(rtr, signal.SIGCONT)
        _, err = p.communicate(timeout=60)
        assert p.returncode != 0
        assert b"denied" in err, err
    finally:
        d.close()
