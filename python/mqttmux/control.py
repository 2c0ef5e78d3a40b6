# SPDX-License-Identifier: MIT
"""The daemon's control socket through the library: sessions (status, add, remove, restart,
wait) and metrics. Plain functions: no client handle, any thread. <runtime_dir> None means
$MQTTMUX_RUNTIME_DIR, else /run/mqttmux, as for the library."""
import ctypes

from . import _lib
from ._errors import check

_STATUS_FIELDS = ("state_code", "pid", "restarts", "messages_received", "messages_sent",
                  "bytes_received", "bytes_sent", "reconnects")


def sessions(runtime_dir=None):
    """The names of the running sessions, in config order."""
    names = ctypes.POINTER(ctypes.c_char_p)()
    n = ctypes.c_size_t()
    check(_lib.lib.mqttmux_session_list(_lib.enc(runtime_dir), ctypes.byref(names),
                                        ctypes.byref(n)), "sessions")
    try:
        return [_lib.s(names[i]) for i in range(n.value)]
    finally:
        _lib.lib.mqttmux_session_list_free(names, n)


def status(runtime_dir=None):
    """Every session as a dict: name, state, state_code, broker, pid, restarts, message and
    byte counts, reconnects, last_error (as `mqttmux status --json`)."""
    arr = ctypes.POINTER(_lib.SessionStatus)()
    n = ctypes.c_size_t()
    check(_lib.lib.mqttmux_session_status(_lib.enc(runtime_dir), ctypes.byref(arr),
                                          ctypes.byref(n)), "status")
    try:
        out = []
        for i in range(n.value):
            r = arr[i]
            d = {"name": _lib.s(r.name), "state": _lib.s(r.state), "broker": _lib.s(r.broker),
                 "last_error": _lib.s(r.last_error)}
            d.update({f: getattr(r, f) for f in _STATUS_FIELDS})
            out.append(d)
        return out
    finally:
        _lib.lib.mqttmux_session_status_free(arr, n)


def session_add(path, runtime_dir=None):
    """Add the session block of the file <path> to the running daemon (kept in state_dir)."""
    check(_lib.lib.mqttmux_session_add(_lib.enc(runtime_dir), _lib.enc(str(path))),
          "session_add")


def session_remove(name, runtime_dir=None):
    check(_lib.lib.mqttmux_session_remove(_lib.enc(runtime_dir), _lib.enc(name)),
          "session_remove")


def session_restart(name, runtime_dir=None):
    check(_lib.lib.mqttmux_session_restart(_lib.enc(runtime_dir), _lib.enc(name)),
          "session_restart")


def wait(session=None, timeout=30.0, runtime_dir=None):
    """Wait until <session> (None: every session) is ready. TimeoutError after <timeout> s."""
    ms = -1 if timeout is None else int(timeout * 1000)
    if session is None:
        rc = _lib.lib.mqttmux_wait_all_sessions(_lib.enc(runtime_dir), ms)
    else:
        rc = _lib.lib.mqttmux_wait_session(_lib.enc(runtime_dir), _lib.enc(session), ms)
    check(rc, "wait")


def metrics(runtime_dir=None):
    """A typed snapshot: the manager sums and "sessions", a list of per-session dicts."""
    m = ctypes.POINTER(_lib.Metrics)()
    check(_lib.lib.mqttmux_metrics(_lib.enc(runtime_dir), ctypes.byref(m)), "metrics")
    try:
        c = m.contents
        out = {f: getattr(c, f) for f, _ in _lib.Metrics._fields_
               if f not in ("n_sessions", "sessions")}
        out["sessions"] = []
        for i in range(c.n_sessions):
            s = c.sessions[i]
            d = {f: getattr(s, f) for f, _ in _lib.SessionMetrics._fields_}
            d["name"] = _lib.s(s.name)
            out["sessions"].append(d)
        return out
    finally:
        _lib.lib.mqttmux_metrics_free(m)


def metrics_text(runtime_dir=None):
    """The Prometheus text (the same as `mqttmux metrics`)."""
    p = ctypes.c_void_p()
    check(_lib.lib.mqttmux_metrics_prometheus(_lib.enc(runtime_dir), ctypes.byref(p)),
          "metrics_text")
    try:
        return ctypes.string_at(p).decode("utf-8", "replace")
    finally:
        _lib.libc.free(p)
