"""A fault-injecting TCP proxy on loopback, for testing exports to object stores.

It sits between TensorFlow's S3 client (tensorflow-io, the AWS SDK inside) and a real
``moto_server``, forwarding bytes both ways. The SDK keeps connections alive across
requests, so faults are chosen per *connection*, when it is accepted: with probability
``fault_rate`` (a seeded ``random.Random``), one of

* ``reset``: after a random number of bytes of the request or of the response, both
  sides are closed with a TCP RST (``SO_LINGER`` 0), i.e. a connection reset mid-body;
* ``stall``: after a random number of bytes, nothing more is forwarded either way for
  ``stall_seconds``, then the connection is reset (a stuck server or network);
* ``500`` / ``503`` / ``429``: the first request is answered by the proxy with an error
  in the store's style (``error_style``: S3's XML ``InternalError`` / ``SlowDown``, or
  GCS's JSON ``backendError`` / ``rateLimitExceeded``) and the connection is closed;
  ``429`` (Too Many Requests, GCS's rate limit) is not among the default kinds;
* ``trickle``: after a random number of bytes, the rest goes on one byte every
  ``trickle_interval`` seconds (never slow enough for curl's low-speed limit to abort
  it) for ``stall_seconds``, then the connection is reset: a call no client timeout
  bounds. Not among the default kinds; tests ask for it.

``outage(seconds)`` refuses everything for that long: new connections are reset as soon
as they are accepted, live ones are reset at their next byte. ``stop_answering()`` makes
the store stop answering for good: from then on every connection, new or live, is kept
open and nothing more is forwarded either way (counted as ``unanswered``), until the
proxy stops; ``stop_answering_after(n)`` does it from the ``n``-th new connection on.
The proxy counts what it really injected (a fault chosen for a connection that ends
before its trigger point is not counted), stops injecting once ``budget`` faults were
injected, and stops by itself after ``lifetime`` seconds, so a test that forgets it
cannot keep a thread alive.

Usage::

    with FaultProxy(upstream_port, seed=1, fault_rate=0.3) as proxy:
        env["S3_ENDPOINT"] = proxy.endpoint
        ...
        proxy.set_fault_rate(0.5)
        proxy.outage(20)
    proxy.injected  # {'reset': 3, 'stall': 1, '500': 2, '503': 1, 'refused': 40}
"""

from __future__ import annotations

import collections
import json
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator, Sequence

FAULT_KINDS = ("reset", "stall", "500", "503")
KNOWN_KINDS = (*FAULT_KINDS, "429", "trickle")
ERROR_KINDS = ("500", "503", "429")

#: kind -> (status line, S3 code, GCS reason, message)
_ERRORS = {
    "500": (
        "500 Internal Server Error",
        "InternalError",
        "backendError",
        "We encountered an internal error. Please try again.",
    ),
    "503": ("503 Slow Down", "SlowDown", "backendError", "Please reduce your request rate."),
    "429": (
        "429 Too Many Requests",
        "SlowDown",
        "rateLimitExceeded",
        "The rate of change requests to the object exceeds the rate limit.",
    ),
}


def error_response(kind: str, style: str) -> bytes:
    """The whole HTTP response the proxy answers a ``kind`` error with, in ``style``
    (``s3``: an XML body; ``gs``: GCS's JSON error body)."""
    status, s3_code, gcs_reason, message = _ERRORS[kind]
    if style == "gs":
        content_type = "application/json"
        body = json.dumps(
            {
                "error": {
                    "code": int(status.split()[0]),
                    "message": message,
                    "errors": [{"domain": "global", "reason": gcs_reason, "message": message}],
                }
            }
        ).encode()
    else:
        content_type = "application/xml"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{s3_code}</Code><Message>{message}</Message>"
            "<RequestId>faultproxy</RequestId></Error>"
        ).encode()
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def _close(sock: socket.socket) -> None:
    """Closes ``sock`` normally (FIN), after the data already sent is delivered."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _reset(sock: socket.socket) -> None:
    """Closes ``sock`` with a TCP RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class FaultProxy:
    """A TCP proxy from ``127.0.0.1:<port>`` to ``127.0.0.1:<upstream_port>`` that injects
    faults into a seeded fraction of connections (see the module docstring)."""

    def __init__(
        self,
        upstream_port: int,
        *,
        seed: int,
        fault_rate: float = 0.0,
        kinds: Sequence[str] = FAULT_KINDS,
        budget: int = 1000,
        stall_seconds: float = 30.0,
        trigger_bytes: int = 2048,
        trickle_interval: float = 0.5,
        lifetime: float = 600.0,
        error_style: str = "s3",
    ) -> None:
        unknown = set(kinds) - set(KNOWN_KINDS)
        if unknown:
            raise ValueError(
                f"FaultProxy: unknown fault kinds {sorted(unknown)}; known: {KNOWN_KINDS}"
            )
        if error_style not in ("s3", "gs"):
            raise ValueError(
                f"FaultProxy: error_style must be 's3' or 'gs'; received {error_style!r}"
            )
        self._error_style = error_style
        self._unanswered_from: int | None = None
        self._upstream = ("127.0.0.1", upstream_port)
        self._random = random.Random(seed)
        self._kinds = tuple(kinds)
        self._fault_rate = float(fault_rate)
        self._budget = budget
        self._stall_seconds = stall_seconds
        self._trigger_bytes = max(1, trigger_bytes)
        self._trickle_interval = trickle_interval
        self._lifetime = lifetime
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._outage_until = 0.0
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self.injected: dict[str, int] = collections.Counter()
        self.connections = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._started_at = 0.0

    # --- control ----------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._started_at = time.monotonic()
        thread = threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stops accepting, resets every open connection, joins the threads (bounded)."""
        self._stopped.set()
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            _reset(sock)
        for thread in list(self._threads):
            thread.join(timeout=5)
        try:
            self._listener.close()
        except OSError:
            pass

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def set_fault_rate(self, fault_rate: float) -> None:
        with self._lock:
            self._fault_rate = float(fault_rate)

    def outage(self, seconds: float) -> None:
        """Refuses everything (new and live connections) for the next ``seconds``."""
        with self._lock:
            self._outage_until = time.monotonic() + seconds

    def in_outage(self) -> bool:
        return time.monotonic() < self._outage_until

    def stop_answering(self) -> None:
        """From now on nothing is answered, on new or live connections (module doc)."""
        self.stop_answering_after(0)

    def stop_answering_after(self, connections: int) -> None:
        """Stops answering once ``connections`` connections have been accepted in all."""
        with self._lock:
            self._unanswered_from = connections

    def answering(self) -> bool:
        with self._lock:
            return self._unanswered_from is None or self.connections < self._unanswered_from

    @property
    def total_injected(self) -> int:
        with self._lock:
            return sum(self.injected.values())

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.injected, connections=self.connections)

    # --- connections ------------------------------------------------------------------------

    def _count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def _choose_fault(self) -> tuple[str | None, str, int]:
        """(kind or None, direction 'up'/'down', byte threshold) for a new connection."""
        with self._lock:
            self.connections += 1
            draw, kind_index, direction, threshold = (
                self._random.random(),
                self._random.randrange(len(self._kinds)),
                self._random.choice(("up", "down")),
                self._random.randrange(0, self._trigger_bytes),
            )
            faulted = sum(
                count
                for kind, count in self.injected.items()
                if kind not in ("refused", "unanswered")
            )
            if draw >= self._fault_rate or faulted >= self._budget:
                return None, direction, threshold
            return self._kinds[kind_index], direction, threshold

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            if time.monotonic() - self._started_at > self._lifetime:
                self._stopped.set()
                break
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            if self.in_outage():
                self._count("refused")
                _reset(client)
                continue
            if not self.answering():
                self._count("unanswered")
                with self._lock:
                    self._open.append(client)  # held open, never read: reset when the proxy stops
                continue
            thread = threading.Thread(
                target=self._serve, args=(client,), name="faultproxy-conn", daemon=True
            )
            thread.start()
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            _reset(sock)

    def _serve(self, client: socket.socket) -> None:
        kind, direction, threshold = self._choose_fault()
        try:
            upstream = socket.create_connection(self._upstream, timeout=5)
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._open.extend([client, upstream])
        graceful = False
        try:
            if kind in ERROR_KINDS:
                self._answer_error(client, kind)
                graceful = True
                return
            graceful = self._pump(client, upstream, kind, direction, threshold)
        finally:
            for sock in (client, upstream):
                _close(sock) if graceful else _reset(sock)
            with self._lock:
                self._open = [sock for sock in self._open if sock not in (client, upstream)]

    def _answer_error(self, client: socket.socket, kind: str) -> None:
        head = b""
        deadline = time.monotonic() + 10
        client.settimeout(1.0)
        while (
            b"\r\n\r\n" not in head and time.monotonic() < deadline and not self._stopped.is_set()
        ):
            try:
                chunk = client.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            head += chunk
        response = error_response(kind, self._error_style)
        self._count(kind)
        try:
            client.sendall(response)
            client.shutdown(socket.SHUT_WR)
            time.sleep(0.05)
        except OSError:
            pass

    def _pump(
        self,
        client: socket.socket,
        upstream: socket.socket,
        kind: str | None,
        direction: str,
        threshold: int,
    ) -> bool:
        """Forwards both ways; True when a side ended normally, False on a fault."""
        sent = {"up": 0, "down": 0}
        peers = {client: (upstream, "up"), upstream: (client, "down")}
        while not self._stopped.is_set():
            if self.in_outage():
                self._count("refused")
                return False
            if not self.answering():
                self._count("unanswered")
                self._stopped.wait()  # nothing more either way, until the proxy stops
                return False
            try:
                readable, _, _ = select.select(list(peers), [], [], 0.2)
            except (OSError, ValueError):
                return False
            for source in readable:
                target, flow = peers[source]
                try:
                    data = source.recv(65536)
                except OSError:
                    return False
                if not data:
                    return True
                if kind is not None and flow == direction and sent[flow] + len(data) > threshold:
                    cut = max(0, threshold - sent[flow])
                    try:
                        target.sendall(data[:cut])
                    except OSError:
                        return False
                    self._count(kind)
                    if kind == "stall":
                        self._stopped.wait(self._stall_seconds)
                    elif kind == "trickle":
                        self._trickle(target, data[cut:])
                    return False  # reset both sides (in _serve)
                try:
                    target.sendall(data)
                except OSError:
                    return False
                sent[flow] += len(data)
        return False

    def _trickle(self, target: socket.socket, data: bytes) -> None:
        """Sends ``data`` (then nothing) one byte per ``trickle_interval``, for at most
        ``stall_seconds``, or until the proxy stops or an outage starts."""
        deadline = time.monotonic() + self._stall_seconds
        for index in range(len(data)):
            if self._stopped.wait(self._trickle_interval) or self.in_outage():
                return
            if time.monotonic() >= deadline:
                return
            try:
                target.sendall(data[index : index + 1])
            except OSError:
                return
        self._stopped.wait(max(0.0, deadline - time.monotonic()))


def iter_rates(rates: Sequence[float], count: int) -> Iterator[float]:
    """``count`` fault rates cycling through ``rates`` (a fixed, reproducible schedule)."""
    for index in range(count):
        yield rates[index % len(rates)]
