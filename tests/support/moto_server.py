"""A moto server on 127.0.0.1 for tests and benchmarks that need a real endpoint."""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import Iterator

from moto.server import ThreadedMotoServer


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Start a ThreadedMotoServer on a free loopback port; yield its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        yield url
    finally:
        server.stop()


def reset_moto(url: str) -> None:
    """Forget every resource the moto server holds."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback only
        pass
