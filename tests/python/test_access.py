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
