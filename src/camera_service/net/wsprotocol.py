"""One server-side WebSocket connection as a sans-I/O state machine (RFC 6455).

Bytes from the peer go in through ``receive_data``; the messages they complete come
out of ``events_received``; what must go on the wire comes out of ``data_to_send``.
The object never touches a socket: a transport owns the I/O, and tests drive it with
bytes (python-websockets' ``protocol.py`` works the same way). Frames are parsed and
built by ``wsframes``.

The protocol's own frames (pongs, close frames) are queued in order with the
application's: a control frame is acted on when the iteration of ``events_received``
passes it, so a pong follows the replies sent for the messages before its ping.

Text payloads come out as bytes: the application decodes them when it handles them
(§8.1), so messages queued before an invalid one are still answered.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping

from camera_service.net.wsframes import (
    CLOSE_NORMAL,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    Event,
    FrameParser,
    ProtocolError,
    accept_upgrade,
    close_frame,
    control_frame,
    parse_close,
    text_frame,
)


class State(enum.Enum):
    CONNECTING = 0  # the upgrade request is not accepted yet
    OPEN = 1
    CLOSING = 2  # we sent a close frame and wait for the peer's
    CLOSED = 3  # the closing handshake is over or the connection failed: end TCP


# Module names for the members, as python-websockets has them: an enum member looked up
# on its class costs ~65 ns on Python 3.11, and the request path tests the state 4 times.
CONNECTING = State.CONNECTING
OPEN = State.OPEN
CLOSING = State.CLOSING
CLOSED = State.CLOSED


class ServerProtocol:
    __slots__ = ("_frames", "_parser", "_writes", "state")

    def __init__(self, max_size: int) -> None:
        self.state = CONNECTING
        self._parser = FrameParser(max_size)
        self._frames: list[Event] = []  # received, not yet handed out
        self._writes: list[bytes] = []

    # --- the opening handshake ------------------------------------------------------

    def accept(self, method: bytes, headers: Mapping[bytes, bytes]) -> None:
        """Validate the client's upgrade request (§4.2.1; header names lower-case) and
        queue the 101 response (§4.2.2). Raises ``HandshakeError`` to refuse it."""
        if self.state is not CONNECTING:
            raise RuntimeError(f"accept() in state {self.state.name}")
        self._writes.append(accept_upgrade(method, headers))
        self.state = OPEN

    # --- incoming -------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self.state is CLOSED:
            return  # failed or closed: the rest of the stream is not read (§7.1.7)
        try:
            frames = self._parser.feed(data)
        except ProtocolError as exc:
            self.fail(exc.code, exc.reason)
            return
        if self._frames:
            self._frames += frames
        else:
            self._frames = frames

    def receive_eof(self) -> None:
        """The TCP connection ended: _The WebSocket Connection is Closed_ (§7.1.4),
        cleanly or not, and nothing more is sent."""
        self.state = CLOSED
        self._frames = []
        self._writes = []

    def events_received(self) -> Iterable[Event]:
        """The data messages received since the last call, as (opcode, payload):
        text or binary, fragments joined. Consume it whole before the next call."""
        frames, self._frames = self._frames, []
        if not frames or (len(frames) == 1 and frames[0][0] < OP_CLOSE and self.state is OPEN):
            return frames  # nothing, or one message and no control frame: the common case
        return self._handle(frames)

    def _handle(self, frames: list[Event]) -> Iterator[Event]:
        for opcode, payload in frames:
            if self.state is CLOSED:
                return
            if opcode < OP_CLOSE:
                if self.state is OPEN:  # data after our close frame is dropped
                    yield opcode, payload
            elif opcode == OP_PING:
                if self.state is OPEN:
                    self._writes.append(control_frame(OP_PONG, payload))  # §5.5.2
            elif opcode == OP_CLOSE:
                self._receive_close(payload)
                return
            # OP_PONG: an answer to our ping, or unsolicited; nothing to do (§5.5.3)

    def _receive_close(self, payload: bytes) -> None:
        try:
            code, _ = parse_close(payload)
        except ProtocolError as exc:
            self.fail(exc.code, exc.reason)
            return
        if self.state is OPEN:
            # §5.5.1: answer with a close frame, echoing the code (1005: none was given)
            self._writes.append(close_frame(CLOSE_NORMAL if code == 1005 else code))
        # §7.1.1: the server ends the TCP connection first, once both close frames passed
        self.state = CLOSED

    # --- outgoing -------------------------------------------------------------------

    def send_text(self, payload: bytes) -> None:
        """Queue one text message; dropped once closing (§5.5.1: no data frame after
        our close frame), as a late reply has nowhere to go."""
        if self.state is OPEN:
            self._writes.append(text_frame(payload))

    def send_close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake (§7.1.2); the peer's close frame ends it."""
        if self.state is OPEN:
            self._writes.append(close_frame(code, reason))
            self.state = CLOSING

    def fail(self, code: int, reason: str = "") -> None:
        """_Fail the WebSocket Connection_ (§7.1.7): our close frame if none was sent
        yet, then the end, without waiting for the peer, whose next bytes cannot be
        trusted (or parsed)."""
        if self.state is OPEN:
            self._writes.append(close_frame(code, reason))
        self.state = CLOSED
        self._frames = []

    def data_to_send(self) -> list[bytes]:
        """The bytes to write, in order, since the last call; after them, when
        ``state`` is CLOSED, end the TCP connection."""
        writes, self._writes = self._writes, []
        return writes
