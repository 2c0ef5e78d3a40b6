# SPDX-License-Identifier: MIT
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import mmtest  # noqa: E402


@pytest.fixture(scope="module")
def broker():
    b = mmtest.Broker()
    yield b
    b.close()


@pytest.fixture(scope="module")
def daemon(broker):
    """Two sessions on one broker: "v311" speaks MQTT 3.1.1, "v5" MQTT 5."""
    d = mmtest.Daemon(broker, [{"name": "v311", "protocol": "3.1.1"},
                               {"name": "v5", "protocol": "5"}])
    yield d
    d.close()
