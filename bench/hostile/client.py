"""The sending side of the hostile-mail benchmark, run as its own process (no GIL shared with the
filter whose event loop is being timed).

    python bench/hostile/client.py PORT MANIFEST.json RESULTS.json CONNECTIONS

The manifest lists {"name", "file"}; each message goes with XFORWARD IDENT=name (as Postfix
sends its queue id), and a 4xx answer is retried once, as Postfix would retry it later.
Results: per message its attempts, each with wall-clock start/end and the reply.
"""

from __future__ import annotations

import json
import smtplib
import sys
import threading
import time
from pathlib import Path
from typing import Any

SENDER = "doitac@partner.gov.vn"
RCPT = "vanphong@example.gov.vn"


def send(smtp: smtplib.SMTP, name: str, raw: bytes) -> tuple[int, str]:
    smtp.docmd("XFORWARD", f"IDENT={name}")
    code, text = smtp.mail(SENDER)
    if code != 250:
        smtp.rset()
        return code, text.decode("utf-8", "replace")
    code, text = smtp.rcpt(RCPT)
    if code not in (250, 251):
        smtp.rset()
        return code, text.decode("utf-8", "replace")
    code, text = smtp.data(raw)
    return code, text.decode("utf-8", "replace")


def run(port: int, items: list[dict[str, Any]], connections: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = [{} for _ in items]

    def worker(indices: list[int]) -> None:
        smtp = smtplib.SMTP("127.0.0.1", port, timeout=600)
        smtp.ehlo("hostile-bench")
        for i in indices:
            item = items[i]
            raw = Path(item["file"]).read_bytes()
            attempts = []
            for _ in range(2):
                start = time.time()
                try:
                    code, text = send(smtp, item["name"], raw)
                except (smtplib.SMTPException, OSError) as exc:
                    code, text = 0, f"{type(exc).__name__}: {exc}"
                    smtp = smtplib.SMTP("127.0.0.1", port, timeout=600)
                    smtp.ehlo("hostile-bench")
                attempts.append({"start": start, "end": time.time(), "code": code, "reply": text[:300]})
                if not 400 <= code < 500 and code != 0:
                    break
            results[i] = {"name": item["name"], "attempts": attempts}
        smtp.quit()

    shares = [list(range(len(items)))[k::connections] for k in range(connections)]
    threads = [threading.Thread(target=worker, args=(s,)) for s in shares if s]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main() -> None:
    port, manifest, out, connections = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    items = json.loads(manifest.read_text())
    started = time.time()
    results = run(port, items, connections)
    out.write_text(json.dumps({"seconds": time.time() - started, "results": results}))


if __name__ == "__main__":
    main()
