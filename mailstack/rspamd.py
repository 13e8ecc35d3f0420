"""A private rspamd (Debian's 3.4) with its normal worker on a loopback port, for /checkv2.

Cold start takes several seconds (Hyperscan compiles its patterns into DBDIR): start it once per
test session. No Redis and no network: DNS-based checks time out fast and are harmless.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from mailstack.util import HOST, StackError, log_report, stop_process, which

GTUBE = (
    "XJS*C4JDBQADN1.NSBN3*2IDNEN*"  # the Generic Test for Unsolicited Bulk Email, split so that
    "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"  # this file is not itself spam
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Rspamd:
    def __init__(self, root: Path, port: int) -> None:
        self.base = root / "rspamd"
        self.port = port
        self.conf = self.base / "conf"
        self.db = self.base / "db"
        self.run_dir = self.base / "run"
        self.log_dir = self.base / "log"
        self.log_path = self.log_dir / "rspamd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def write_config(self) -> None:
        for d in (self.conf / "override.d", self.conf / "local.d", self.db, self.run_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        override = self.conf / "override.d"
        (override / "logging.inc").write_text(f'type = "file";\nfilename = "{self.log_path}";\nlevel = "info";\n')
        (override / "worker-normal.inc").write_text(f'bind_socket = "{HOST}:{self.port}";\ncount = 1;\n')
        (override / "worker-controller.inc").write_text(
            f'bind_socket = "{HOST}:{_free_port()}";\ncount = 1;\nsecure_ip = "127.0.0.1";\n'
        )
        (override / "worker-proxy.inc").write_text(
            f'bind_socket = "{HOST}:{_free_port()}";\nmilter = yes;\ncount = 1;\n'
            'upstream "local" {\n  default = yes;\n  self_scan = yes;\n}\n'
        )
        (self.conf / "local.d" / "options.inc").write_text("dns {\n  timeout = 1s;\n  retransmits = 1;\n}\n")
        (self.conf / "local.d" / "redis.conf").write_text("# no redis server here\n")
        for d in (self.db, self.run_dir, self.log_dir):
            shutil.chown(d, "_rspamd", "_rspamd")

    def ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp:
                return bool(resp.read().strip() == b"pong")
        except OSError:
            return False

    def start(self, deadline: float) -> None:
        self.write_config()
        out = (self.log_dir / "rspamd.out").open("ab")
        self.proc = subprocess.Popen(
            [
                which("rspamd"),
                "-f",
                "-u",
                "_rspamd",
                "-g",
                "_rspamd",
                "-c",
                "/etc/rspamd/rspamd.conf",
                f"--var=LOCAL_CONFDIR={self.conf}",
                f"--var=DBDIR={self.db}",
                f"--var=RUNDIR={self.run_dir}",
                f"--var=LOGDIR={self.log_dir}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while not self.ping():
            if self.proc.poll() is not None:
                raise StackError(f"rspamd exited with status {self.proc.returncode}\n{log_report(self.log_path)}")
            if time.monotonic() >= deadline:
                raise StackError(f"rspamd: no pong on {self.url}\n{log_report(self.log_path)}")
            time.sleep(0.1)

    def stop(self, timeout: float = 15) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, timeout)
