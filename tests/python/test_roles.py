# SPDX-License-Identifier: MIT
"""Roles (issue 12): clients.allow_uids gives data access and status, clients.admin_uids the
administration (add, remove, restart, reload); and the daemon never opens a file on a
client's behalf with its own rights: `session add` sends the session file open, and a block
from a user other than root or the daemon's may name no file. Every admin action is logged
with uid and pid. The clients run as "nobody" (root needed, else skipped). inotify tells
whether the daemon ever opened a file."""
import ctypes
import os
import re
import socket
import stat
import subprocess

import pytest

import mmtest
from test_access import EXTRA_GID, as_nobody, daemon, nobody

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="needs root to run clients as nobody")

IN_ACCESS, IN_OPEN = 0x1, 0x20
LIBC = ctypes.CDLL(None, use_errno=True)


class Opened:
    """Did anybody open (or read) <path> since this was made? (inotify)"""

    def __init__(self, path):
        self.fd = LIBC.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        assert LIBC.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ACCESS) >= 0

    def __call__(self):
        try:
            return len(os.read(self.fd, 4096)) > 0
        except BlockingIOError:
            return False

    def close(self):
        os.close(self.fd)


def write(path, text, mode):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def session_file(d, name, extra=""):
    path = os.path.join(d.dir, name + ".sess")
    write(path, 'session = { name = "%s"; brokers = [ "tcp://127.0.0.1:1" ]; '
          'client_id = "mm-%s"; %s };\n' % (name, name, extra), 0o644)
    return path


def names(d):
    r = d.cli("status", "--json")
    assert r.returncode == 0, r
    return sorted(re.findall(rb'"name":\s*"([^"]+)"', r.stdout))


def refused(r, what):
    assert r.returncode != 0, r
    assert what in r.stderr, r


def test_an_allowed_user_who_is_no_admin_cannot_administer(broker):
    d = daemon(broker, 'allow_uids = [ "nobody" ];')
    try:
        sess = session_file(d, "extra")
        assert as_nobody(d, [], "status").returncode == 0
        for args in (["session", "add", "-c", sess], ["session", "remove", "s"],
                     ["session", "restart", "s"], ["reload"]):
            refused(as_nobody(d, [], *args), b"not an administrator")
        assert names(d) == [b"s"]
        pw, _ = nobody()
        assert re.search(r"uid %d \(pid \d+\) refused: remove s" % pw.pw_uid, d.text()), d.text()
        # root is always an administrator
        assert d.cli("session", "restart", "s").returncode == 0
        assert re.search(r"restart requested on the control socket by uid 0 \(pid \d+\)",
                         d.text()), d.text()
    finally:
        d.close()


def test_an_admin_is_logged_and_names_no_file_the_daemon_would_read(broker):
    pw, _ = nobody()
    d = daemon(broker, 'allow_uids = [ "nobody" ]; admin_uids = [ "nobody" ];')
    secret = os.path.join(d.dir, "root-only.pw")
    write(secret, "hunter2\n", 0o600)  # root's: nobody cannot read it
    watch = Opened(secret)
    try:
        sess = session_file(d, "thief", 'username = "u"; password_file = "%s";' % secret)
        r = as_nobody(d, [], "session", "add", "-c", sess)
        refused(r, b"permission denied")
        assert b"password_file" in r.stderr and b"may not name files" in r.stderr, r
        # tls files too, and @include
        tls = session_file(d, "tls", 'tls = { ca_file = "%s"; };' % secret)
        refused(as_nobody(d, [], "session", "add", "-c", tls), b"may not name files")
        inc = os.path.join(d.dir, "inc.sess")
        write(inc, '@include "%s"\n' % secret, 0o644)
        refused(as_nobody(d, [], "session", "add", "-c", inc), b"@include")
        assert not watch(), "the daemon opened the secret for nobody"
        assert names(d) == [b"s"]

        # a block naming no file is added, and who did it is logged; then removed
        ok = session_file(d, "mine")
        assert as_nobody(d, [], "session", "add", "-c", ok).returncode == 0
        assert names(d) == [b"mine", b"s"]
        assert re.search(r"session 'mine' added from '%s' \(sent open\) by uid %d \(pid \d+\)"
                         % (re.escape(ok), pw.pw_uid), d.text()), d.text()
        assert as_nobody(d, [], "session", "remove", "mine").returncode == 0
        assert re.search(r"session 'mine' removed on the control socket by uid %d \(pid \d+\)"
                         % pw.pw_uid, d.text()), d.text()
        mmtest.wait_for(lambda: names(d) == [b"s"], what="'mine' gone")
    finally:
        watch.close()
        d.close()


def test_a_session_file_the_admin_cannot_read_is_never_read(broker):
    d = daemon(broker, 'allow_uids = [ "nobody" ]; admin_uids = [ "nobody" ];')
    try:
        sess = session_file(d, "hidden")
        os.chmod(sess, 0o600)  # root's
        watch = Opened(sess)
        r = as_nobody(d, [], "session", "add", "-c", sess)
        refused(r, b"Permission denied")
        # an old client that sends the name alone: refused, and the daemon does not open it
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            try:
                pw, _ = nobody()
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
                s.connect(os.path.join(d.run, "control.sock"))
                s.sendall(b"add %s\n" % os.fsencode(sess))
                reply = s.makefile("rb").readline()
                os._exit(0 if b"permission denied" in reply else 1)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        assert not watch(), "the daemon opened a file nobody cannot read"
        watch.close()
        assert names(d) == [b"s"]
    finally:
        d.close()


def test_a_fifo_as_session_file_is_refused_at_once(broker):
    d = daemon(broker, "")
    try:
        fifo = os.path.join(d.dir, "fifo.sess")
        os.mkfifo(fifo, 0o644)
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
        r = d.cli("session", "add", "-c", fifo, timeout=30)
        refused(r, b"not a regular file")
        assert names(d) == [b"s"]  # and the supervisor still answers
    finally:
        d.close()


@pytest.mark.parametrize("http,warned", [(":9183", True), ("0.0.0.0:9183", True),
                                         ("[::]:9183", True), ("127.0.0.1:9183", False)])
def test_a_metrics_listener_on_every_interface_is_said(tmp_path, http, warned):
    """--check (which binds nothing) warns about metrics.http on every interface."""
    cfg = tmp_path / "m.cfg"
    cfg.write_text('runtime_dir = "%s";\nmetrics = { http = "%s"; };\nsessions = ();\n'
                   % (tmp_path, http))
    r = subprocess.run([mmtest.MQTTMUXD, "--check", "-c", str(cfg)], capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r
    assert (b"listens on every interface" in r.stderr) == warned, r


def sessions_daemon(broker):
    """Sessions "s" (its clients block names nobody), "t" (group EXTRA_GID) and "open"."""
    d = mmtest.Daemon(broker, [
        {"name": "s", "extra": 'clients = { allow_uids = [ "nobody" ]; };'},
        {"name": "t", "extra": "clients = { allow_gids = [ %d ]; };" % EXTRA_GID},
        {"name": "open"}], extra='clients = { allow_uids = [ "nobody" ]; };')
    os.chmod(d.dir, 0o755)
    os.chmod(d.run, 0o755)
    for sock in ("control.sock", "router.sock"):
        os.chmod(os.path.join(d.run, sock), 0o666)
    assert d.cli("wait", "-t", "30").returncode == 0
    return d


def test_a_session_clients_block_limits_its_data_to_its_members(broker):
    d = sessions_daemon(broker)
    try:
        for sess in ("s", "open"):  # by user name; a session without the block
            assert as_nobody(d, [], "pub", "-s", sess, "-t", "r/a", "-m", "x").returncode == 0
            assert as_nobody(d, [], "sub", "-s", sess, "-t", "r/a", "-E").returncode == 0
        for groups, ok in (([], False), ([EXTRA_GID], True), ([5, EXTRA_GID], True)):
            pub = as_nobody(d, groups, "pub", "-s", "t", "-t", "r/a", "-m", "x")
            sub = as_nobody(d, groups, "sub", "-s", "t", "-t", "r/a", "-E")
            assert (pub.returncode == 0) == ok and (sub.returncode == 0) == ok, (pub, sub)
            if not ok:
                assert b"Permission denied" in pub.stderr, pub
                assert b"Permission denied" in sub.stderr, sub
        pw, _ = nobody()
        assert re.search(r"uid %d, pid \d+\): route on session 't' refused" % pw.pw_uid,
                         d.text()), d.text()
        # root always may
        assert d.cli("pub", "-s", "t", "-t", "r/a", "-m", "x").returncode == 0
    finally:
        d.close()


def test_an_all_session_route_gets_only_the_sessions_it_may_see(broker):
    """The three sessions share one broker, so each receives every message: nobody's route on
    every session must show them as coming from "s" and "open" only, never from "t"."""
    d = sessions_daemon(broker)
    pw, _ = nobody()

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    sub = subprocess.Popen([mmtest.MQTTMUX, "sub", "-t", "all/#", "-F", "%S %t", "-C", "20",
                            "-W", "60"], env=d.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, preexec_fn=drop)
    try:
        mmtest.wait_for(lambda: sub.poll() is not None or
                        d.cli("pub", "-s", "open", "-t", "all/x", "-m", "x").returncode == 0 and
                        sub.poll() is not None, 60, "nobody's 20 messages")
        out, err = sub.communicate(timeout=10)
        lines = out.decode().split("\n")[:-1]
        assert len(lines) == 20, (out, err)
        assert not [ln for ln in lines if ln.startswith("t ")], lines
        assert {ln.split()[0] for ln in lines} <= {"s", "open"}, lines
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
        d.close()
