"""The peers of the filter benchmark, each run as its own process: a sink, and a bare relay.

python bench/servers.py sink PORT
python bench/servers.py relay PORT SINK_PORT
"""

from __future__ import annotations

import asyncio
import smtplib
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.smtp import SMTP

LIMIT = 64 * 2**20


class LongLines(SMTP):
    """Postfix takes lines of any length (it splits and rejoins them); so must a sink standing in for it."""

    line_length_limit = LIMIT


class Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 2.0.0 Ok: stored"


class Relay:
    """Stock aiosmtpd: receive, forward unchanged with smtplib in a thread, no inspection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.pool = ThreadPoolExecutor(16)

    def _send(self, envelope: Any) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=120) as smtp:
            smtp.sendmail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.get_running_loop().run_in_executor(self.pool, self._send, envelope)
        return "250 2.0.0 Ok: relayed"


async def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    handler: Any = Sink() if mode == "sink" else Relay(int(sys.argv[3]))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: LongLines(handler, data_size_limit=LIMIT), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
