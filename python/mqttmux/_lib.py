# SPDX-License-Identifier: MIT
"""ctypes declarations of libmqttmux (include/mqttmux.h). Internal to the package.

The library is $MQTTMUX_LIBRARY when set (a path, e.g. a build tree's
shm/client/libmqttmux.so.0), else the system's libmqttmux.so.0.
"""
import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char_p, c_double, c_int,
                    c_int64, c_size_t, c_ssize_t, c_uint32, c_uint64, c_void_p, py_object)


class Msg(Structure):
    _fields_ = [("session", c_char_p), ("topic", c_char_p), ("topic_len", c_size_t),
                ("payload", c_void_p), ("payload_len", c_size_t), ("props", c_void_p),
                ("props_len", c_size_t), ("recv_ns", c_uint64), ("mid", c_uint32),
                ("session_idx", c_uint32), ("qos", c_int), ("retain", c_bool), ("dup", c_bool)]


class Event(Structure):
    _fields_ = [("type", c_int), ("name", c_char_p), ("session", c_char_p),
                ("time_ns", c_uint64), ("code", c_int), ("attempt", c_uint32),
                ("next_ms", c_uint32), ("text", c_char_p), ("lost", c_uint64),
                ("topic", c_char_p), ("worker_kind", c_int)]


class Prop(Structure):
    _fields_ = [("id", c_int), ("num", c_uint32), ("data", c_void_p), ("len", c_size_t),
                ("value", c_void_p), ("value_len", c_size_t)]


class SessionStatus(Structure):
    _fields_ = [("name", c_char_p), ("state", c_char_p), ("state_code", c_int),
                ("broker", c_char_p), ("pid", c_int64), ("restarts", c_uint64),
                ("messages_received", c_uint64), ("messages_sent", c_uint64),
                ("bytes_received", c_uint64), ("bytes_sent", c_uint64),
                ("reconnects", c_uint64), ("last_error", c_char_p)]


class SessionMetrics(Structure):
    _fields_ = [("name", c_char_p)] + [(n, c_uint64) for n in (
        "messages_sent", "messages_received", "bytes_sent", "bytes_received", "errors",
        "reconnects", "restarts", "oversize_dropped", "publish_ok", "publish_failed",
        "subscriptions", "in_ring_size", "in_ring_fill", "in_ring_high_water")] + [
        ("status", c_int)] + [(n, c_bool) for n in (
            "connected", "failed", "persistent", "clean_session", "auto_reconnect")] + [
        (n, c_double) for n in ("last_message_time", "last_error_time", "message_rate",
                                "avg_message_rate", "bytes_rate")]


class Metrics(Structure):
    _fields_ = [(n, c_uint64) for n in ("active_sessions", "total_messages", "total_bytes",
                                        "error_count", "reconnect_count")] + [
        ("uptime_seconds", c_double)] + [(n, c_uint64) for n in (
            "router_messages", "router_fanout", "router_unrouted", "router_dropped",
            "router_restarts")] + [("n_sessions", c_size_t),
                                   ("sessions", POINTER(SessionMetrics))]


MSG_FN = CFUNCTYPE(None, c_void_p, POINTER(Msg), c_void_p)
GAP_FN = CFUNCTYPE(None, c_void_p, c_char_p, c_uint64, c_void_p)
PUB_FN = CFUNCTYPE(None, c_void_p, c_int, c_void_p)
EVENT_FN = CFUNCTYPE(None, c_void_p, POINTER(Event), c_void_p)

_SIGS = {
    "mqttmux_version": (c_char_p, []),
    "mqttmux_open": (c_void_p, [c_char_p, POINTER(c_int)]),
    "mqttmux_close": (None, [c_void_p]),
    "mqttmux_fd": (c_int, [c_void_p]),
    "mqttmux_dispatch": (c_int, [c_void_p, c_int]),
    "mqttmux_on_gap": (c_int, [c_void_p, GAP_FN, c_void_p]),
    "mqttmux_lost": (c_uint64, [c_void_p]),
    "mqttmux_on_event": (c_int, [c_void_p, c_uint32, c_char_p, EVENT_FN, c_void_p]),
    "mqttmux_event_stop": (c_int, [c_void_p, c_int]),
    "mqttmux_event_name": (c_char_p, [c_int]),
    "mqttmux_set_route_qos": (c_int, [c_void_p, c_int]),
    "mqttmux_handle": (c_void_p, [c_void_p, c_char_p, MSG_FN, c_void_p]),
    "mqttmux_handle_to": (c_void_p, [c_void_p, c_char_p, c_char_p, MSG_FN, c_void_p]),
    "mqttmux_listen": (c_void_p, [c_void_p, c_char_p, c_size_t]),
    "mqttmux_listen_to": (c_void_p, [c_void_p, c_char_p, c_char_p, c_size_t]),
    "mqttmux_next": (c_int, [c_void_p, POINTER(POINTER(Msg)), c_int]),
    "mqttmux_route_dropped": (c_uint64, [c_void_p]),
    "mqttmux_route_stop": (c_int, [c_void_p]),
    "mqttmux_publish_v5": (c_int, [c_void_p, c_char_p, c_char_p, c_void_p, c_size_t, c_int,
                                   c_bool, c_void_p, c_size_t, c_int]),
    "mqttmux_publish_v5_async": (c_int, [c_void_p, c_char_p, c_char_p, c_void_p, c_size_t,
                                         c_int, c_bool, c_void_p, c_size_t, PUB_FN, c_void_p]),
    "mqttmux_prop_next": (c_int, [c_void_p, c_size_t, POINTER(c_size_t), POINTER(Prop)]),
    "mqttmux_prop_pack": (c_ssize_t, [c_void_p, c_size_t, POINTER(Prop)]),
    "mqttmux_session_add": (c_int, [c_char_p, c_char_p]),
    "mqttmux_session_remove": (c_int, [c_char_p, c_char_p]),
    "mqttmux_session_restart": (c_int, [c_char_p, c_char_p]),
    "mqttmux_session_list": (c_int, [c_char_p, POINTER(POINTER(c_char_p)), POINTER(c_size_t)]),
    "mqttmux_session_list_free": (None, [POINTER(c_char_p), c_size_t]),
    "mqttmux_session_status": (c_int, [c_char_p, POINTER(POINTER(SessionStatus)),
                                       POINTER(c_size_t)]),
    "mqttmux_session_status_free": (None, [POINTER(SessionStatus), c_size_t]),
    "mqttmux_wait_session": (c_int, [c_char_p, c_char_p, c_int]),
    "mqttmux_wait_all_sessions": (c_int, [c_char_p, c_int]),
    "mqttmux_metrics": (c_int, [c_char_p, POINTER(POINTER(Metrics))]),
    "mqttmux_metrics_free": (None, [POINTER(Metrics)]),
    "mqttmux_metrics_prometheus": (c_int, [c_char_p, POINTER(c_void_p)]),
}


def _load():
    path = os.environ.get("MQTTMUX_LIBRARY") or "libmqttmux.so.0"
    lib = ctypes.CDLL(path, use_errno=True)  # route constructors report through errno
    for name, (res, args) in _SIGS.items():
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args
    return lib


lib = _load()
libc = ctypes.CDLL(None)
libc.free.argtypes = [c_void_p]
libc.free.restype = None

# A memoryview over C memory without a copy (read-only): the payload inside a callback.
_view = ctypes.pythonapi.PyMemoryView_FromMemory
_view.restype = py_object
_view.argtypes = [c_void_p, c_ssize_t, c_int]
PYBUF_READ = 0x100


def view(ptr, n):
    """A read-only memoryview of n bytes at ptr (an empty one for n == 0)."""
    if not n or not ptr:
        return memoryview(b"")
    return _view(ptr, n, PYBUF_READ)


def s(b):
    """A C string (bytes or None) as str."""
    return b.decode("utf-8", "replace") if b is not None else None


def enc(x):
    """str or None as a C string argument."""
    return x.encode() if isinstance(x, str) else x
