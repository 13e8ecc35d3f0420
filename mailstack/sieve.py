"""A minimal ManageSieve (RFC 5804) client: enough to authenticate and manage scripts."""

from __future__ import annotations

import base64
import re
import socket
from types import TracebackType

from mailstack.util import HOST, StackError

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


class ManageSieveError(StackError):
    """The server answered NO or BYE (``response`` holds its text)."""

    def __init__(self, command: str, response: str) -> None:
        super().__init__(f"ManageSieve {command}: {response}")
        self.command = command
        self.response = response


def quote(text: str) -> str:
    """A ManageSieve quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ManageSieve:
    """``with ManageSieve(port) as ms: ms.authenticate(user, password); ms.putscript(...)``."""

    def __init__(self, port: int, host: str = HOST, timeout: float = 10) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.capabilities = self._response("greeting")

    def __enter__(self) -> ManageSieve:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _logical_line(self, command: str) -> str:
        """One response line with any literals ({N} / {N+}) inlined."""
        text = ""
        while True:
            raw = self.file.readline(1 << 20)
            if not raw:
                raise ManageSieveError(command, "connection closed by server")
            if m := _LITERAL.search(raw):
                text += raw[: m.start()].decode("utf-8", errors="replace")
                text += self.file.read(int(m.group(1))).decode("utf-8", errors="replace")
                continue  # the line goes on after the literal
            return text + raw.decode("utf-8", errors="replace").rstrip("\r\n")

    def _response(self, command: str) -> list[str]:
        """Read lines up to the final OK and return those before it; raise on NO/BYE."""
        lines: list[str] = []
        while True:
            line = self._logical_line(command)
            status = line.split(" ", 1)[0].upper()
            if status == "OK":
                return lines
            if status in ("NO", "BYE"):
                raise ManageSieveError(command, line)
            lines.append(line)

    def command(self, line: str, literal: str | None = None) -> list[str]:
        data = line.encode()
        if literal is not None:
            body = literal.encode()
            data += b" {%d+}\r\n" % len(body) + body
        self.sock.sendall(data + b"\r\n")
        return self._response(line.split(" ", 1)[0])

    def authenticate(self, authc: str, password: str, authz: str = "") -> None:
        """SASL PLAIN. With a master user: ``authc=master``, ``authz=target address``."""
        token = base64.b64encode(f"{authz}\0{authc}\0{password}".encode()).decode()
        self.command(f'AUTHENTICATE "PLAIN" {quote(token)}')

    def putscript(self, name: str, script: str) -> None:
        self.command(f"PUTSCRIPT {quote(name)}", script)

    def setactive(self, name: str) -> None:
        """Activate script ``name`` (an empty name deactivates all)."""
        self.command(f"SETACTIVE {quote(name)}")

    def listscripts(self) -> dict[str, bool]:
        """Script name -> active."""
        result = {}
        for line in self.command("LISTSCRIPTS"):
            m = re.match(r'"((?:[^"\\]|\\.)*)"( ACTIVE)?', line)
            if m:
                result[re.sub(r"\\(.)", r"\1", m.group(1))] = bool(m.group(2))
        return result

    def getscript(self, name: str) -> str:
        return "".join(self.command(f"GETSCRIPT {quote(name)}"))

    def deletescript(self, name: str) -> None:
        self.command(f"DELETESCRIPT {quote(name)}")

    def close(self) -> None:
        try:
            self.sock.sendall(b"LOGOUT\r\n")
            self.file.readline()
        except OSError:
            pass
        finally:
            self.file.close()
            self.sock.close()
