# SPDX-License-Identifier: MIT
"""A client of the mqttmux router (libmqttmux's struct mqttmux): routes by callback or by
iterator, publishes, events, and one file descriptor for event loops (asyncio included).

Like the C library it has no thread of its own: callbacks run inside dispatch() (and the calls
that dispatch: publish, Route.next), in the calling thread. A callback's Message views the
delivery ring without a copy: its payload (and properties) are read-only memoryviews that are
released when the callback returns; keep bytes(msg.payload) to hold on to them.
"""
import ctypes
import errno

from . import _lib, props as _props
from ._errors import MqttmuxError, check

EVENT_TYPES = ("session_connecting", "session_connected", "session_ready",
               "session_disconnected", "session_reconnecting", "session_state_changed",
               "session_added", "session_removed", "session_failed", "client_gap",
               "publish_failed", "router_disconnected", "router_reconnected")


class Message:
    """One message: session, topic (str), payload (memoryview or bytes), qos, retain, dup,
    mid, recv_ns (CLOCK_REALTIME ns when the worker received it), raw_properties."""

    __slots__ = ("session", "topic", "payload", "raw_properties", "qos", "retain", "dup",
                 "mid", "recv_ns", "_props")

    def __init__(self, m, copy):
        self.session = _lib.s(m.session)
        self.topic = _lib.s(m.topic)
        if copy:
            self.payload = ctypes.string_at(m.payload, m.payload_len) if m.payload_len else b""
            self.raw_properties = (ctypes.string_at(m.props, m.props_len)
                                   if m.props_len else None)
        else:
            self.payload = _lib.view(m.payload, m.payload_len)
            self.raw_properties = _lib.view(m.props, m.props_len) if m.props_len else None
        self.qos, self.retain, self.dup = m.qos, bool(m.retain), bool(m.dup)
        self.mid, self.recv_ns = m.mid, m.recv_ns
        self._props = None

    @property
    def properties(self):
        """The MQTT 5 properties as a dict (props.py); {} on MQTT 3.1.1."""
        if self._props is None:
            raw = self.raw_properties
            if raw is None:
                self._props = {}
            else:
                buf = (ctypes.c_char * len(raw)).from_buffer_copy(raw)
                self._props = _props.decode(ctypes.addressof(buf), len(raw))
        return self._props

    def copy(self):
        """This message with its payload and properties copied (bytes): it outlives the
        callback."""
        c = object.__new__(Message)
        for k in ("session", "topic", "qos", "retain", "dup", "mid", "recv_ns"):
            setattr(c, k, getattr(self, k))
        c.payload = bytes(self.payload)
        c.raw_properties = bytes(self.raw_properties) if self.raw_properties is not None \
            else None
        c._props = self._props
        return c

    def _release(self):
        for v in (self.payload, self.raw_properties):
            if isinstance(v, memoryview):
                v.release()

    def __repr__(self):
        return "Message(session=%r, topic=%r, payload=%r, qos=%d)" % (
            self.session, self.topic, bytes(self.payload)[:64], self.qos)


class Event:
    """An event (docs/events.md): type (its name), session, time_ns, code, attempt, next_ms,
    text, lost, topic."""

    __slots__ = ("type", "session", "time_ns", "code", "attempt", "next_ms", "text", "lost",
                 "topic")

    def __init__(self, e):
        self.type = _lib.s(e.name)
        self.session, self.text, self.topic = _lib.s(e.session), _lib.s(e.text), _lib.s(e.topic)
        self.time_ns, self.code, self.attempt = e.time_ns, e.code, e.attempt
        self.next_ms, self.lost = e.next_ms, e.lost

    def __repr__(self):
        return "Event(%s, session=%r, text=%r)" % (self.type, self.session, self.text)


class Route:
    """A route: a topic filter on one session or all of them. Callback routes deliver to their
    function; listen routes are iterators (each message a private copy)."""

    def __init__(self, client, ptr, callback):
        self._client, self._ptr, self._callback = client, ptr, callback

    def next(self, timeout=None):
        """The next message of a listen route, or None after <timeout> seconds."""
        mp = ctypes.POINTER(_lib.Msg)()
        ms = -1 if timeout is None else int(timeout * 1000)
        if not self._ptr:
            raise MqttmuxError(errno.EINVAL, "the route is stopped")
        rc = _lib.lib.mqttmux_next(self._ptr, ctypes.byref(mp), ms)
        self._client._reraise()
        if check(rc, "next") == 0:
            return None
        return Message(mp.contents, copy=True)

    def __iter__(self):
        return self

    def __next__(self):
        return self.next()

    @property
    def dropped(self):
        """Messages this listen route dropped because its queue was full."""
        return _lib.lib.mqttmux_route_dropped(self._ptr) if self._ptr else 0

    def stop(self):
        if self._ptr:
            ptr, self._ptr = self._ptr, None
            self._client._routes.pop(ptr, None)
            check(_lib.lib.mqttmux_route_stop(ptr), "route_stop")


class Client:
    """Connected to the router of <runtime_dir> (None: $MQTTMUX_RUNTIME_DIR or /run/mqttmux)."""

    def __init__(self, runtime_dir=None):
        err = ctypes.c_int(0)
        self._c = _lib.lib.mqttmux_open(_lib.enc(runtime_dir), ctypes.byref(err))
        if not self._c:
            check(err.value or -errno.EIO, "open")
        self._routes = {}  # route pointer -> Route
        self._handlers = {}  # our key (the C handler's ud) -> function
        self._hids = {}  # the library's handler id -> our key
        self._pending = {}  # async publish key -> callback
        self._key = 0
        self._exc = None
        self._loop = None
        # one C trampoline each, alive as long as the client
        self._msg_fn = _lib.MSG_FN(self._on_msg)
        self._event_fn = _lib.EVENT_FN(self._on_event)
        self._pub_fn = _lib.PUB_FN(self._on_pub)
        self._gap_fn = None

    # ---- lifetime ----

    def close(self):
        if getattr(self, "_loop", None):
            self.detach()
        if getattr(self, "_c", None):
            _lib.lib.mqttmux_close(self._c)
            self._c = None
            self._routes.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def fileno(self):
        """The one descriptor to poll (readable: call dispatch(0))."""
        return _lib.lib.mqttmux_fd(self._c)

    def dispatch(self, timeout=0):
        """Run what arrived: callbacks, completions, events. <timeout> seconds to wait for
        something (None: no limit). Returns the number of records handled."""
        ms = -1 if timeout is None else int(timeout * 1000)
        rc = _lib.lib.mqttmux_dispatch(self._c, ms)
        self._reraise()
        return check(rc, "dispatch")

    @property
    def lost(self):
        """Messages the router reported lost for this client (its ring was full)."""
        return _lib.lib.mqttmux_lost(self._c)

    # ---- callbacks from C: exceptions wait for the call that dispatched ----

    def _reraise(self):
        if self._exc:
            e, self._exc = self._exc, None
            raise e

    def _on_msg(self, route, m, ud):
        r = self._routes.get(route)
        if not r or self._exc:
            return
        msg = Message(m.contents, copy=False)
        try:
            r._callback(msg)
        except BaseException as e:  # noqa: B902 - re-raised from dispatch()
            self._exc = e
        finally:
            msg._release()

    def _on_event(self, c, ev, ud):
        fn = self._handlers.get(ud or 0)
        if fn and not self._exc:
            try:
                fn(Event(ev.contents))
            except BaseException as e:  # noqa: B902
                self._exc = e

    def _on_pub(self, c, result, ud):
        fn = self._pending.pop(ud or 0, None)
        if fn and not self._exc:
            try:
                fn(result)
            except BaseException as e:  # noqa: B902
                self._exc = e

    # ---- routes ----

    def set_route_qos(self, qos):
        """The QoS asked for routes added from now on (default 1)."""
        check(_lib.lib.mqttmux_set_route_qos(self._c, qos), "set_route_qos")

    def _route(self, ptr, callback, what):
        if not ptr:
            e = ctypes.get_errno() or errno.EINVAL
            raise MqttmuxError(e, "%s: %s" % (what, errno.errorcode.get(e, e)))
        r = Route(self, ptr, callback)
        self._routes[ptr] = r
        return r

    def handle(self, filter, callback, session=None):
        """Call callback(msg) for every message matching <filter> (on <session>, or all)."""
        f = _lib.enc(filter)
        if session is None:
            ptr = _lib.lib.mqttmux_handle(self._c, f, self._msg_fn, None)
        else:
            ptr = _lib.lib.mqttmux_handle_to(self._c, _lib.enc(session), f, self._msg_fn, None)
        return self._route(ptr, callback, "handle %s" % filter)

    def listen(self, filter, session=None, depth=1024):
        """A route to iterate: `for msg in client.listen("a/#"): ...` (copies)."""
        f = _lib.enc(filter)
        if session is None:
            ptr = _lib.lib.mqttmux_listen(self._c, f, depth)
        else:
            ptr = _lib.lib.mqttmux_listen_to(self._c, _lib.enc(session), f, depth)
        return self._route(ptr, None, "listen %s" % filter)

    # ---- publish ----

    @staticmethod
    def _args(payload, properties):
        data = payload.encode() if isinstance(payload, str) else bytes(payload or b"")
        raw = _props.encode(properties) if properties else b""
        return data, raw

    def publish(self, session, topic, payload, qos=0, retain=False, properties=None,
                timeout=10.0):
        """Publish through <session> (None: every session) and wait for the result: sent
        (QoS 0) or acknowledged (QoS 1, 2). <properties>: a dict (props.py), MQTT 5 only."""
        data, raw = self._args(payload, properties)
        ms = -1 if timeout is None else int(timeout * 1000)
        rc = _lib.lib.mqttmux_publish_v5(self._c, _lib.enc(session), _lib.enc(topic), data,
                                         len(data), qos, retain, raw or None, len(raw), ms)
        self._reraise()
        check(rc, "publish to %s" % (session or "every session"))

    def publish_async(self, session, topic, payload, callback=None, qos=0, retain=False,
                      properties=None):
        """Publish without waiting; callback(result) runs from a later dispatch, result 0 or
        -errno. Raises for what fails at once (BlockingIOError: the pub-ring is full)."""
        data, raw = self._args(payload, properties)
        self._key += 1
        key = self._key
        if callback:
            self._pending[key] = callback
        rc = _lib.lib.mqttmux_publish_v5_async(self._c, _lib.enc(session), _lib.enc(topic),
                                               data, len(data), qos, retain, raw or None,
                                               len(raw), self._pub_fn if callback else None,
                                               key)
        if rc < 0:
            self._pending.pop(key, None)
            if rc == -errno.EAGAIN:
                raise BlockingIOError(errno.EAGAIN, "the pub-ring is full: dispatch and retry")
            check(rc, "publish_async")

    # ---- events ----

    def on_event(self, callback, types=None, session=None):
        """callback(event) for the event types named in <types> (None: all), of <session>
        (None: every one). Returns an id for event_stop()."""
        mask = 0
        for t in types or EVENT_TYPES:
            mask |= 1 << EVENT_TYPES.index(t)
        self._key += 1
        hid = check(_lib.lib.mqttmux_on_event(self._c, mask, _lib.enc(session), self._event_fn,
                                              self._key), "on_event")
        self._handlers[self._key] = callback
        self._hids[hid] = self._key
        return hid

    def event_stop(self, hid):
        check(_lib.lib.mqttmux_event_stop(self._c, hid), "event_stop")
        self._handlers.pop(self._hids.pop(hid, None), None)

    def on_gap(self, callback):
        """callback(session or None, lost) when the router dropped messages for us."""
        def gap(c, session, lost, ud):
            try:
                callback(_lib.s(session), lost)
            except BaseException as e:  # noqa: B902
                self._exc = e
        self._gap_fn = _lib.GAP_FN(gap)
        check(_lib.lib.mqttmux_on_gap(self._c, self._gap_fn, None), "on_gap")

    # ---- asyncio ----

    def attach(self, loop=None):
        """Dispatch from an asyncio loop whenever the client's fd is readable."""
        import asyncio
        self._loop = loop or asyncio.get_event_loop()
        self.dispatch(0)  # the fd is armed for the ring only after a first dispatch
        self._loop.add_reader(self.fileno(), self._readable)

    def detach(self):
        if self._loop:
            self._loop.remove_reader(self.fileno())
            self._loop = None

    def _readable(self):
        try:
            self.dispatch(0)
        except Exception as e:  # noqa: BLE001 - an event loop callback must not raise
            self._loop.call_exception_handler({"message": "mqttmux dispatch", "exception": e})

    def messages(self, filter, session=None, maxsize=0):
        """An async iterator over the messages of a new route (copies), for an attached
        client: `async for msg in client.messages("a/#"): ...`. stop() ends it."""
        from .aio import Messages
        return Messages(self, filter, session, maxsize)

    async def apublish(self, session, topic, payload, qos=0, retain=False, properties=None):
        """publish_async as a coroutine (an attached client): returns when it completed."""
        import asyncio
        fut = self._loop.create_future()

        def done(result):
            if not fut.done():
                fut.set_result(result)
        while True:
            try:
                self.publish_async(session, topic, payload, done, qos, retain, properties)
                break
            except BlockingIOError:
                await asyncio.sleep(0.01)
        check(await fut, "publish to %s" % (session or "every session"))
