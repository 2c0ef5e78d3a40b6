# SPDX-License-Identifier: MIT
"""Errors: every failure of the library is a -errno; it becomes an OSError subclass."""
import errno
import os


class MqttmuxError(OSError):
    """A libmqttmux call failed; .errno is the errno, .strerror what it means there."""


def check(rc, what):
    """Raise for a negative rc (-errno); return rc otherwise."""
    if rc >= 0:
        return rc
    e = -rc
    if e == errno.ETIMEDOUT:
        raise TimeoutError(e, "%s: %s" % (what, os.strerror(e)))
    if e == errno.ENOENT:
        raise MqttmuxError(e, "%s: %s" % (what, "no such session or no daemon"))
    raise MqttmuxError(e, "%s: %s" % (what, os.strerror(e)))
