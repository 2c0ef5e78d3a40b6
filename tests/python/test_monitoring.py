# SPDX-License-Identifier: MIT
"""packaging/grafana and packaging/prometheus (issue 16): every metric the dashboard and the
alert rules name exists in a live dump of a running daemon (with a client, so the client
families have samples), promtool check rules passes, and promtool test rules runs the
alerts' unit tests."""
import json
import os
import re
import subprocess

import pytest

import mmtest
from mmtest import SRC, wait_for

DASHBOARD = os.path.join(SRC, "packaging", "grafana", "mqttmux-dashboard.json")
ALERTS = os.path.join(SRC, "packaging", "prometheus", "mqttmux-alerts.yml")
ALERT_TESTS = os.path.join(SRC, "packaging", "prometheus", "mqttmux-alerts.test.yml")

# Series Prometheus makes itself, not mqttmux.
PROMETHEUS_OWN = {"up"}
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "by", "without", "on", "ignoring", "group_left",
    "group_right", "rate", "irate", "increase", "histogram_quantile", "and", "or", "unless",
    "bool", "offset", "absent", "delta", "deriv", "topk", "bottomk", "label_values", "le",
}


def promql_metrics(expr):
    """The metric names an expression reads (label matchers, strings, ranges removed)."""
    e = re.sub(r'"[^"]*"', "", expr)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"label_values\(([^,()]*),[^)]*\)", r"\1", e)
    e = re.sub(r"\$\w+", "", e)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", e))
    return {n for n in names if n not in PROMQL_WORDS and not re.fullmatch(r"\d+\w*", n)}


def dashboard_exprs():
    with open(DASHBOARD) as f:
        d = json.load(f)
    exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in d["templating"]["list"] if v["type"] == "query"]
    return exprs


def alert_exprs():
    with open(ALERTS) as f:
        return re.findall(r"^\s+expr:\s*(.+)$", f.read(), re.M)


@pytest.fixture(scope="module")
def live(broker):
    d = mmtest.Daemon(broker, [{"name": "one", "protocol": "5"}])
    sub = d.popen("sub", "-t", "mon/#")
    wait_for(lambda: "mqttmux_client_pid{" in d.cli("metrics").stdout.decode(), 30,
             "the client's series")
    text = d.cli("metrics").stdout.decode()
    sub.terminate()
    sub.wait(30)
    d.close()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def test_the_dashboard_is_grafana_json_with_a_datasource_variable():
    with open(DASHBOARD) as f:
        d = json.load(f)
    assert d["uid"] and d["title"] == "mqttmux"
    assert any(v["type"] == "datasource" for v in d["templating"]["list"])
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_referenced_exists_in_a_live_dump(live, source):
    exprs = dashboard_exprs() if source == "dashboard" else alert_exprs()
    assert exprs
    missing = set()
    for e in exprs:
        missing |= promql_metrics(e) - live - PROMETHEUS_OWN
    assert not missing, "%s names metrics the daemon does not export: %s" % (source, missing)


def test_promtool_check_rules():
    r = subprocess.run(["promtool", "check", "rules", ALERTS], capture_output=True, timeout=60)
    assert r.returncode == 0, r


def test_promtool_test_rules():
    r = subprocess.run(["promtool", "test", "rules", ALERT_TESTS], capture_output=True,
                       timeout=60, cwd=os.path.dirname(ALERT_TESTS))
    assert r.returncode == 0, r
