"""A tiny asyncio HTTP server for /metrics (docs/libraries.md, "Metrics endpoint": faster than the WSGI
thread, no dependency, loopback only unless configured)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, exposition, generate_latest

log = logging.getLogger(__name__)

# The classic 0.0.4 text format: what the body is (our names are plain ASCII), and what Prometheus 2.x
# (Debian 12 ships 2.42) knows by name; CONTENT_TYPE_LATEST says 1.0.0 since prometheus-client 0.22.
CONTENT_TYPE: str = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", CONTENT_TYPE_LATEST)
READ_TIMEOUT = 10.0
INDEX = b'<html><body><a href="/metrics">/metrics</a></body></html>\n'


class MetricsServer:
    """A listening /metrics endpoint; ``await close()`` stops it (a second close does nothing)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._server: asyncio.Server | None = None
        self.host = ""
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, host, port)
        self.host, self.port = self._server.sockets[0].getsockname()[:2]
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            path = target.split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                status, ctype, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
            elif path == "/metrics":
                # The store collector does blocking SQLite reads: keep them off the event loop.
                body = await asyncio.to_thread(generate_latest, self.registry)
                status, ctype = "200 OK", CONTENT_TYPE
            elif path == "/":
                status, ctype, body = "200 OK", "text/html", INDEX
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"not found\n"
            header = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(header.encode("latin-1") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError, ValueError):
            pass
        except Exception:
            # A broken collector must not take the daemon down; the scrape fails and Prometheus sees it.
            log.exception("metrics scrape failed")
            writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def serve_metrics(registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 9187) -> MetricsServer:
    """Start serving ``registry`` on http://host:port/metrics; port 0 picks a free one (see ``.port``)."""
    server = MetricsServer(registry)
    await server.start(host, port)
    return server
