# SPDX-License-Identifier: MIT
"""mqttmux for Python: a client of the mqttmux router over libmqttmux (ctypes), and the
daemon's control socket. docs/python.md has the guide.

    import mqttmux
    with mqttmux.Client() as c:
        c.handle("sensors/#", lambda m: print(m.session, m.topic, bytes(m.payload)))
        c.publish("plant", "cmd/line1", b"start", qos=1)
        while True:
            c.dispatch(None)
"""
from ._errors import MqttmuxError
from . import _lib
from .client import EVENT_TYPES, Client, Event, Message, Route
from .control import (metrics, metrics_text, session_add, session_remove, session_restart,
                      sessions, status, wait)

__all__ = ["Client", "Route", "Message", "Event", "MqttmuxError", "EVENT_TYPES", "status",
           "sessions", "session_add", "session_remove", "session_restart", "wait", "metrics",
           "metrics_text", "version"]


def version():
    """The version of the libmqttmux loaded."""
    return _lib.lib.mqttmux_version().decode()
