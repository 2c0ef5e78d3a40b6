# SPDX-License-Identifier: MIT
"""asyncio: an attached Client (Client.attach) dispatches from the loop's reader on the
library's fd; Messages turns a route into an async iterator."""
import asyncio


class Messages:
    """`async for msg in client.messages("a/#")`: each message a copy, in order. When the
    queue (maxsize > 0) is full a message is dropped and counted in .dropped."""

    def __init__(self, client, filter, session=None, maxsize=0):
        self.queue = asyncio.Queue(maxsize)
        self.dropped = 0
        self._end = object()
        self.route = client.handle(filter, self._put, session)

    def _put(self, msg):
        try:
            self.queue.put_nowait(msg.copy())
        except asyncio.QueueFull:
            self.dropped += 1

    def __aiter__(self):
        return self

    async def __anext__(self):
        msg = await self.queue.get()
        if msg is self._end:
            raise StopAsyncIteration
        return msg

    def stop(self):
        """Stop the route; the iteration ends after the messages already queued."""
        self.route.stop()
        try:
            self.queue.put_nowait(self._end)
        except asyncio.QueueFull:
            pass
