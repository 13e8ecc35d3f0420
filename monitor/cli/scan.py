"""`mailmon scan`: the filter's evaluation, offline, for one message (the JSON contract in the README:
``verdict``, ``direction``, ``violations``, ``attachments``; exit 2 on unusable input).

With ``[clamav] enabled`` the message is also streamed to clamd (monitor/scanners/clamd.py), so a virus is
reported as a ``virus`` violation. If clamd cannot be reached the scan still ran: the exit status is
0 and the report carries a ``virus-unscanned`` violation naming the reason — unlike the filter, which
answers 451 so that Postfix retries, an operator's one-off scan must say what it could not check
rather than fail. A message over ``stream_max_bytes`` is ``virus-unscanned`` as in the filter.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path
from typing import Any

from monitor.config import Config
from monitor.inspect.pipeline import Evaluation, evaluate, limit_evaluation, with_antivirus
from monitor.inspect.verdict import one_line
from monitor.inspect.worker import set_memory_ceiling
from monitor.scanners import clamd, rspamd
from monitor.scanners.antivirus import clamd_client, scan_message
from rules.facts import AntivirusResult

EX_INPUT = 2


def evaluation_json(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "verdict": str(evaluation.verdict.action),
        "direction": evaluation.direction,
        "message_id": evaluation.message_id,
        "violations": [
            {
                "rule": f.rule,
                "severity": str(f.severity),
                "action": str(f.action),
                "detail": f.detail,
                "citation": f.citation,
            }
            for f in evaluation.findings
        ],
        "attachments": [
            {
                "filename": a.filename,
                "size": a.size,
                "type": a.true_type or a.content_type,
                "content_type": a.content_type,
                "members": [
                    {
                        "name": m.name,
                        "size": m.size,
                        "depth": m.depth,
                        "type": m.true_type,
                        "encrypted": m.encrypted,
                    }
                    for m in a.members
                ],
            }
            for a in evaluation.attachments
        ],
        "problems": list(evaluation.problems),
    }


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def cmd_scan(config: Config, path: str, mail_from: str, rcpts: list[str], *, as_json: bool) -> int:
    try:
        data = _read(path)
    except OSError as exc:
        print(f"mailmon scan: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return EX_INPUT
    reason = unusable(data)
    if reason:
        print(f"mailmon scan: {path}: {reason}", file=sys.stderr)
        return EX_INPUT
    settings = config.evaluation_settings()
    # The same memory ceiling as a filter worker: a message that would need more is a finding here too.
    set_memory_ceiling(config.filter.worker_memory_bytes)
    try:
        evaluation = evaluate(data, mail_from, tuple(rcpts), settings)
    except MemoryError:
        reason = f"inspection needed more than {config.filter.worker_memory_bytes // 2**20} MiB of memory; stopped"
        evaluation = limit_evaluation(reason, mail_from, tuple(rcpts), settings)
    if config.clamav.enabled:
        evaluation = with_antivirus(evaluation, virus_scan(config, data, evaluation), settings)
    if config.rspamd.url:
        try:
            score = rspamd.check(
                config.rspamd.url,
                data,
                len(data),
                mail_from=mail_from,
                rcpt_tos=rcpts,
                timeout=config.rspamd.timeout_seconds,
            )
            evaluation, _ = rspamd.with_spam_score(evaluation, score, config.rspamd, settings)
        except rspamd.RspamdUnavailable as exc:
            print(f"mailmon scan: rspamd not used: {exc}", file=sys.stderr)
    if as_json:
        print(json.dumps(evaluation_json(evaluation), ensure_ascii=False))
    else:
        print(human_summary(evaluation))
    return 0


def virus_scan(config: Config, data: bytes, evaluation: Evaluation) -> AntivirusResult:
    """clamd's verdict on ``data`` (as the filter asks it); clamd unreachable is "unscanned" (see above)."""
    client = clamd_client(config)
    assert client is not None, "called only with [clamav] enabled"
    try:
        return asyncio.run(scan_message(client, io.BytesIO(data), len(data), evaluation.attachment_ranges))
    except clamd.ClamdUnavailable as exc:
        return AntivirusResult("unscanned", detail=f"clamd không trả lời / clamd unavailable: {exc}")


def unusable(data: bytes) -> str | None:
    """Why these bytes are not a message at all (None when they can be scanned)."""
    if not data.strip():
        return "tệp rỗng / empty file"
    first_line = data.split(b"\n", 1)[0]
    if b":" not in first_line and not first_line.startswith((b" ", b"\t", b"From ")):
        return "không phải thư (không có dòng tiêu đề) / not a message (no header line)"
    return None


def human_summary(evaluation: Evaluation) -> str:
    labels = {
        "pass": "cho qua / pass",
        "tag": "gắn nhãn / tag",
        "quarantine": "cách ly / quarantine",
        "reject": "từ chối / reject",
    }
    lines = [
        f"Kết luận / verdict: {labels[str(evaluation.verdict.action)]} (chiều / direction: {evaluation.direction})"
    ]
    for finding in evaluation.findings:
        lines.append(f"  - [{finding.action}] {one_line(finding)}")
    if not evaluation.findings:
        lines.append("  Không phát hiện vi phạm / no violations found")
    for att in evaluation.attachments:
        lines.append(f"  tệp / file: {att.display_name} ({att.size:,} bytes, {att.true_type or att.content_type})")
        for m in att.members:
            lines.append(f"    {'  ' * (m.depth - 1)}└ {m.name} ({m.size:,} bytes, {m.true_type or '?'})")
    return "\n".join(lines)


def run(config: Config, args: Any) -> int:
    return cmd_scan(config, args.file, args.mail_from, args.rcpt, as_json=args.json)
