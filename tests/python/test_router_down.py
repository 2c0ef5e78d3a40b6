# SPDX-License-Identifier: MIT
"""Honest status (issue 12): a router that cannot start (here: a runtime_dir others may write)
makes `status` and `wait` say so, with the router's own reason, and it is retried with
backoff, not in a tight loop; once the cause is gone it is back and the sessions are usable."""
import json
import os
import re
import signal

import mmtest
from test_privileges import kids


def rows(d):
    r = d.cli("status", "--json")
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def test_a_router_that_cannot_start_is_reported_and_retried_with_backoff(broker):
    # restart.max 3 s: the backoff doubles from 0.1 s and stays at 3 s
    d = mmtest.Daemon(broker, [{"name": "s311", "protocol": "3.1.1"},
                               {"name": "s5", "protocol": "5"}],
                      extra="restart = { max = 3.0; burst = 1000; };")
    try:
        assert all(r["router"] == "up" and r["router_error"] is None for r in rows(d))
        os.chmod(d.run, 0o777)
        (old,) = kids(d, "mqttmux-router")
        os.kill(old, signal.SIGKILL)
        why = "is not a directory writable only by its owner"
        down = mmtest.wait_for(lambda: [r for r in rows(d)
                                        if r["router"] != "up" and why in
                                        (r["router_error"] or "")], 30,
                               "status to say why the router is down")
        assert len(down) == 2, rows(d)
        assert d.run in down[0]["router_error"], down
        text = d.cli("status")
        assert text.returncode == 0 and b"router down:" in text.stdout, text
        assert why.encode() in text.stdout, text
        w = d.cli("wait", "-t", "1")
        assert w.returncode != 0, w
        assert b"router (" in w.stderr and why.encode() in w.stderr, w
        # backoff: the delays the supervisor logs grow, up to restart.max
        delays = mmtest.wait_for(
            lambda: (lambda v: v if len(v) >= 5 else None)(
                [int(x) for x in re.findall(r"router: restarting in (\d+) ms",
                                            d.text().split("killed by signal 9")[-1])]),
            60, "five router restarts")
        assert delays[-1] >= 4 * delays[0], delays
        assert max(delays) <= 3000 * 1.3, delays
        # the cause gone, the next attempt succeeds and the sessions are usable again
        os.chmod(d.run, 0o755)
        mmtest.wait_for(lambda: all(r["router"] == "up" and r["router_error"] is None
                                    for r in rows(d)), 30, "the router to come back")
        assert d.cli("wait", "-t", "30").returncode == 0
        sub = d.popen("sub", "-s", "s5", "-t", "back/#", "-C", "1")
        broker.wait_subscribed("mm-s5", "back/#")
        assert d.cli("pub", "-s", "s5", "-t", "back/1", "-m", "again").returncode == 0
        out, err = sub.communicate(timeout=30)
        assert b"again" in out, (out, err)
    finally:
        d.close()
