# SPDX-License-Identifier: MIT
"""A hostile MQTT broker on loopback (issue 12): it speaks just enough MQTT 3.1.1 and 5 to
accept a connection and a SUBSCRIBE, then sends the PUBLISH packets a test gives it, however
malformed. Ours, for tests only: one thread, one client at a time."""
import socket
import struct
import threading


def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    return struct.pack(">H", len(s)) + s


def publish(topic, payload, v5, qos=0, mid=1, props=b""):
    """The bytes of a PUBLISH of <topic> (bytes, sent as given) and <payload>; under MQTT 5
    with the property bytes <props>, sent as given."""
    body = utf8(topic)
    if qos:
        body += struct.pack(">H", mid)
    if v5:
        body += varint(len(props)) + props
    body += payload
    return bytes([0x30 | (qos << 1)]) + varint(len(body)) + body


class Step:
    """What one connection gets after its first SUBSCRIBE: <suback> (raw bytes, or None for
    a proper SUBACK), then <packets>, then <stream> bytes of zeros (a body the worker should
    never read), and then, if <close>, the end of the connection (FIN, then the broker reads
    until the worker closes, so nothing it sent is lost to a reset)."""

    def __init__(self, name, packets, suback=None, stream=0, close=True):
        self.name, self.packets, self.suback = name, packets, suback
        self.stream, self.close = stream, close


class HostileBroker:
    """Accepts on 127.0.0.1:<port>; after the first SUBSCRIBE of a connection, sends each of
    <packets> (raw bytes) once per connection, in order. With <steps> (a list of Step), the
    n-th connection that subscribes plays steps[n] instead (the last one again once they are
    all played); on_step(n, step), if given, runs first. The packet ids of the PUBACKs it got
    are in <pubacks>, the steps played in <played>."""

    def __init__(self, v5, packets=(), steps=None, on_step=None, tls=None):
        """tls: an ssl.SSLContext to serve TLS with, or None."""
        self.v5, self.tls = v5, tls
        self.packets = packets
        self.steps, self.on_step = steps, on_step
        self.played, self.pubacks = [], []
        self.subscribed = threading.Event()
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.closing = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read_packet(self, c):
        head = c.recv(1)
        if not head:
            return None, None
        n, shift = 0, 0
        while True:
            b = c.recv(1)
            if not b:
                return None, None
            n |= (b[0] & 0x7F) << shift
            shift += 7
            if not b[0] & 0x80:
                break
        body = b""
        while len(body) < n:
            more = c.recv(n - len(body))
            if not more:
                return None, None
            body += more
        return head[0], body

    def _suback(self, body):
        mid = body[:2]
        rest = body[2:]
        if self.v5:  # skip the properties
            n, shift, i = 0, 0, 0
            while True:
                n |= (rest[i] & 0x7F) << shift
                shift += 7
                i += 1
                if not rest[i - 1] & 0x80:
                    break
            rest = rest[i + n:]
        codes = bytearray()
        while rest:
            flen = struct.unpack(">H", rest[:2])[0]
            codes.append(rest[2 + flen] & 0x03)  # grant the QoS asked for
            rest = rest[3 + flen:]
        payload = mid + (varint(0) if self.v5 else b"") + bytes(codes)
        return bytes([0x90]) + varint(len(payload)) + payload

    def _play(self, c, body):
        """The next step on connection <c>; False: the connection is over."""
        n = len(self.played)
        step = self.steps[min(n, len(self.steps) - 1)]
        if self.on_step:
            self.on_step(n, step)
        self.played.append(step.name)
        c.sendall(step.suback if step.suback is not None else self._suback(body))
        self.subscribed.set()
        try:
            for p in step.packets:
                c.sendall(p)
            chunk = bytes(1 << 20)
            for _ in range(step.stream >> 20):
                c.sendall(chunk)
        except OSError:
            return False  # the worker closed the connection: as it should, for some steps
        if not step.close:
            return True
        c.shutdown(socket.SHUT_WR)
        c.settimeout(30)
        while True:
            kind, body = self._read_packet(c)
            if kind is None:
                return False
            if kind >> 4 == 4:  # PUBACK
                self.pubacks.append(struct.unpack(">H", body[:2])[0])

    def _serve(self, c):
        sent = False
        while not self.closing:
            kind, body = self._read_packet(c)
            if kind is None:
                return
            t = kind >> 4
            if t == 1:  # CONNECT
                c.sendall(b"\x20\x03\x00\x00\x00" if self.v5 else b"\x20\x02\x00\x00")
            elif t == 8 and self.steps and not sent:
                sent = True
                if not self._play(c, body):
                    return
            elif t == 8:  # SUBSCRIBE
                c.sendall(self._suback(body))
                self.subscribed.set()
                if not sent:
                    sent = True
                    for p in self.packets:
                        c.sendall(p)
            elif t == 4:  # PUBACK
                self.pubacks.append(struct.unpack(">H", body[:2])[0])
            elif t == 10:  # UNSUBSCRIBE
                c.sendall(bytes([0xB0]) + varint(2 + (1 if self.v5 else 0)) + body[:2] +
                          (b"\x00" if self.v5 else b""))
            elif t == 12:  # PINGREQ
                c.sendall(b"\xd0\x00")
            elif t == 14:  # DISCONNECT
                return

    def _run(self):
        while not self.closing:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            try:
                if self.tls:
                    c = self.tls.wrap_socket(c, server_side=True)
            except OSError:
                c.close()
                continue
            with c:
                try:
                    self._serve(c)
                except OSError:
                    pass

    def close(self):
        self.closing = True
        self.srv.close()
