"""One face for the object stores the tests run against: ``s3://`` (moto) and ``gs://``
(fake-gcs-server behind the TLS proxy), so that one test body serves both.

:func:`object_store` starts a store's server on loopback and yields a :class:`StoreServer`:
its ``root`` (``s3://bucket`` or ``gs://bucket``), the environment of a child process
that reaches it (``env``), the port a ``FaultProxy`` goes in front of, and direct reads
of the bucket (``keys``, ``download``) that never pass through a proxy.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

from tests.support import gcs_server, s3server

#: The stores every object-store suite is parametrized over.
STORES = ("s3", "gs")


@dataclass
class StoreServer:
    """A running store server (see the module doc)."""

    name: str
    root: str
    #: the port a FaultProxy forwards to (moto's, or the emulator's behind the TLS proxy)
    upstream_port: int
    #: env(extra): a child's environment, reaching the store directly
    env: Callable[..., dict[str, str]]
    #: through(port): a context manager yielding env(extra) for children whose requests
    #: go through 127.0.0.1:port (a FaultProxy in front of ``upstream_port``)
    through: Callable[[int], Any]
    keys: Callable[[str], list[str]]
    download: Callable[[str, str], list[str]]
    raw: Any = None


@contextlib.contextmanager
def object_store(name: str, directory: str, lifetime: float = 900.0) -> Iterator[StoreServer]:
    """Starts the ``name`` store's server (``s3`` or ``gs``) on 127.0.0.1; stops it on exit."""
    if name == "s3":
        with s3server.moto_server(os.path.join(directory, "moto.log")) as moto:
            client = moto["client"]

            def s3_env(extra: dict[str, str] | None = None) -> dict[str, str]:
                return s3server.s3_env(moto["endpoint"], extra)

            @contextlib.contextmanager
            def s3_through(port: int) -> Iterator[Callable[..., dict[str, str]]]:
                yield lambda extra=None: s3server.s3_env(f"http://127.0.0.1:{port}", extra)

            def s3_download(prefix: str, local: str) -> list[str]:
                keys = s3server.bucket_keys(client, prefix.rstrip("/") + "/")
                for key in keys:
                    destination = os.path.join(local, key[len(prefix.rstrip("/")) + 1 :])
                    os.makedirs(os.path.dirname(destination), exist_ok=True)
                    client.download_file(s3server.BUCKET, key, destination)
                return keys

            yield StoreServer(
                name,
                f"s3://{s3server.BUCKET}",
                moto["port"],
                s3_env,
                s3_through,
                lambda prefix: s3server.bucket_keys(client, prefix),
                s3_download,
                moto,
            )
        return
    if name != "gs":
        raise ValueError(f"object_store: name must be one of {STORES}; received {name!r}")
    with gcs_server.gcs_stack(directory, lifetime) as stack:

        @contextlib.contextmanager
        def gs_through(port: int) -> Iterator[Callable[..., dict[str, str]]]:
            with gcs_server.TlsConnectProxy(
                port, directory, lifetime, stack["emulator_port"]
            ) as proxy:
                yield lambda extra=None: gcs_server.gcs_env(proxy.url, proxy.ca_path, extra)

        yield StoreServer(
            name,
            f"gs://{gcs_server.BUCKET}",
            stack["emulator_port"],
            stack["env"],
            gs_through,
            stack["bucket"].keys,
            stack["bucket"].download,
            stack,
        )
