"""Capture sink: an aiosmtpd server (thread of the calling process) standing in for the Internet.

Postfix relays mail for every non-local domain here. Each message is stored as ``NNNN.eml`` (raw
bytes as received) plus ``NNNN.json`` (envelope) in the sink directory.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from mailstack.util import HOST, rm_tree_contents


@dataclass
class SinkMessage:
    """One message captured by the sink."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    path: Path  # the .eml file
    envelope: dict[str, Any]  # the whole .json record (peer, helo, mail_options, ...)


class SinkHandler:
    """aiosmtpd handler storing every message; numbering restarts after ``clear()``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        with self._lock:
            self._count += 1
            base = self.directory / f"{self._count:04d}"
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "peer": session.peer[0] if session.peer else None,
            "helo": session.host_name,
        }
        _atomic_write(base.with_suffix(".eml"), data)
        # the .json appears last: a message is complete once its .json exists
        _atomic_write(base.with_suffix(".json"), json.dumps(record).encode())
        return "250 2.0.0 Stored in sink"

    def resume_numbering(self) -> None:
        """Continue after the highest NNNN already in the directory (a reused root)."""
        numbers = [int(p.stem) for p in self.directory.glob("*.json") if p.stem.isdigit()]
        with self._lock:
            self._count = max(numbers, default=0)

    def clear(self) -> None:
        with self._lock:
            rm_tree_contents(self.directory)
            self._count = 0

    def messages(self) -> list[SinkMessage]:
        parser = BytesParser(policy=policy.default)
        result = []
        for meta in sorted(self.directory.glob("*.json")):
            record = json.loads(meta.read_text())
            eml = meta.with_suffix(".eml")
            raw = eml.read_bytes()
            result.append(
                SinkMessage(
                    mail_from=record["mail_from"],
                    rcpt_tos=record["rcpt_tos"],
                    raw=raw,
                    message=parser.parsebytes(raw),
                    path=eml,
                    envelope=record,
                )
            )
        return result


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


class Sink:
    """The sink server: ``start()`` binds 127.0.0.1:<port> in a background thread."""

    def __init__(self, directory: Path, port: int, data_size_limit: int) -> None:
        self.directory = directory
        self.port = port
        self.handler = SinkHandler(directory)
        self.data_size_limit = data_size_limit
        self._controller: Controller | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.handler.resume_numbering()
        controller = Controller(
            self.handler,
            hostname=HOST,
            port=self.port,
            server_hostname="sink.test",
            data_size_limit=self.data_size_limit,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def clear(self) -> None:
        self.handler.clear()

    def messages(self) -> list[SinkMessage]:
        return self.handler.messages()
