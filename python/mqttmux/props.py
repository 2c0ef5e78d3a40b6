# SPDX-License-Identifier: MIT
"""MQTT 5 PUBLISH properties: decoded from a message, encoded for a publish, through the
library's mqttmux_prop_next and mqttmux_prop_pack (include/mqttmux.h).

As a dict: payload_format (int), message_expiry (int, seconds), content_type (str),
response_topic (str), correlation_data (bytes), subscription_id (int, received only),
user_properties (list of (name, value) str pairs, in order).
"""
import ctypes

from . import _lib
from ._errors import check

PAYLOAD_FORMAT, MESSAGE_EXPIRY, CONTENT_TYPE = 0x01, 0x02, 0x03
RESPONSE_TOPIC, CORRELATION_DATA, SUBSCRIPTION_ID = 0x08, 0x09, 0x0B
TOPIC_ALIAS, USER_PROPERTY = 0x23, 0x26

_NUM = {PAYLOAD_FORMAT: "payload_format", MESSAGE_EXPIRY: "message_expiry",
        SUBSCRIPTION_ID: "subscription_id", TOPIC_ALIAS: "topic_alias"}
_STR = {CONTENT_TYPE: "content_type", RESPONSE_TOPIC: "response_topic"}
_BIN = {CORRELATION_DATA: "correlation_data"}
_ID = {v: k for d in (_NUM, _STR, _BIN) for k, v in d.items()}


def decode(ptr, n):
    """The properties at ptr (n bytes, the wire encoding) as a dict."""
    out = {}
    off = ctypes.c_size_t(0)
    p = _lib.Prop()
    while n and check(_lib.lib.mqttmux_prop_next(ptr, n, ctypes.byref(off), ctypes.byref(p)),
                      "mqttmux_prop_next"):
        data = ctypes.string_at(p.data, p.len) if p.len else b""
        if p.id in _NUM:
            out[_NUM[p.id]] = p.num
        elif p.id in _STR:
            out[_STR[p.id]] = data.decode("utf-8", "replace")
        elif p.id in _BIN:
            out[_BIN[p.id]] = data
        elif p.id == USER_PROPERTY:
            value = ctypes.string_at(p.value, p.value_len) if p.value_len else b""
            out.setdefault("user_properties", []).append(
                (data.decode("utf-8", "replace"), value.decode("utf-8", "replace")))
    return out


def _pack_one(buf, p):
    n = check(_lib.lib.mqttmux_prop_pack(None, 0, ctypes.byref(p)), "mqttmux_prop_pack")
    b = ctypes.create_string_buffer(n)
    check(_lib.lib.mqttmux_prop_pack(b, n, ctypes.byref(p)), "mqttmux_prop_pack")
    buf += b.raw


def encode(props):
    """A properties dict (see the module) as the bytes a publish takes."""
    out = bytearray()
    keep = []  # the buffers the Prop structs point into, alive until packed
    for key, val in props.items():
        if key == "user_properties":
            for name, value in val:
                nb, vb = name.encode(), value.encode()
                keep += [nb, vb]
                _pack_one(out, _lib.Prop(USER_PROPERTY, 0, ctypes.cast(nb, ctypes.c_void_p),
                                         len(nb), ctypes.cast(vb, ctypes.c_void_p), len(vb)))
            continue
        if key not in _ID:
            raise ValueError("unknown MQTT 5 property %r" % key)
        pid = _ID[key]
        if pid in _NUM:
            _pack_one(out, _lib.Prop(pid, int(val), None, 0, None, 0))
        else:
            data = val.encode() if isinstance(val, str) else bytes(val)
            keep.append(data)
            _pack_one(out, _lib.Prop(pid, 0, ctypes.cast(data, ctypes.c_void_p), len(data),
                                     None, 0))
    return bytes(out)
