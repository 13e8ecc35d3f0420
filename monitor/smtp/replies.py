"""Every SMTP answer the filter gives, as named constants: Vietnamese first, then English.

A 451 names what failed in ``fail_reason`` (clamd, rspamd, reinject, store, timeout, shutdown,
internal): that is the ``reason`` label of ``mailmon_filter_fail_closed_total``. A held sender's
451 is policy, not a failure, and has none.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    """What the filter answers one message, and what failed if it is a 451."""

    text: str
    fail_reason: str | None = None


@dataclass(frozen=True)
class StatusCode:
    code: int
    enhanced: str
    text: str
    fail_reason: str | None = None

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}"

    def with_detail(self, detail: str) -> str:
        # One line, no CR/LF smuggled in from a file name or header.
        clean = " ".join(detail.split())
        return f"{self.code} {self.enhanced} {self.text}: {clean}"[:990]

    def answer(self, detail: str | None = None) -> Answer:
        return Answer(str(self) if detail is None else self.with_detail(detail), self.fail_reason)


R250_DELIVERED = StatusCode(250, "2.0.0", "Đã kiểm tra và chuyển tiếp / Checked and passed on")
R250_QUARANTINED = StatusCode(250, "2.7.0", "Thư được giữ lại để kiểm tra (cách ly) / Message held in quarantine")
R451_INTERNAL = StatusCode(
    451,
    "4.3.0",
    "Lỗi tạm thời của bộ lọc, vui lòng gửi lại sau / Temporary filter error, try again later",
    fail_reason="internal",
)
R451_SCAN_TIMEOUT = StatusCode(
    451,
    "4.3.2",
    "Kiểm tra thư quá thời gian, vui lòng gửi lại sau / Inspection timed out, try again later",
    fail_reason="timeout",
)
R451_SHUTDOWN = StatusCode(
    451,
    "4.3.2",
    "Bộ lọc đang dừng, vui lòng gửi lại sau / The filter is stopping, try again later",
    fail_reason="shutdown",
)
R451_HELD = StatusCode(
    451,
    "4.7.1",
    "Tài khoản tạm bị giữ do gửi thư bất thường (có thể bị chiếm quyền) / Sender held: unusual sending "
    "(possibly compromised account) (spam, DN-2022 Đ13.3)",
)
R451_RSPAMD = StatusCode(
    451,
    "4.7.1",
    "Không chấm điểm thư rác được, sẽ thử lại / Spam scoring unavailable, try again later",
    fail_reason="rspamd",
)
R451_CLAMD = StatusCode(
    451,
    "4.7.1",
    "Chưa quét vi rút được, sẽ thử lại / Virus scanner unavailable, try again later",
    fail_reason="clamd",
)
R451_REINJECT = StatusCode(
    451,
    "4.4.1",
    "Không chuyển tiếp được thư, sẽ thử lại / Could not pass the message on, try again later",
    fail_reason="reinject",
)
R451_STORE = StatusCode(
    451,
    "4.3.0",
    "Không lưu được thư, sẽ thử lại / Could not store the message, try again later",
    fail_reason="store",
)
R550_POLICY = StatusCode(550, "5.7.1", "")
R554_REINJECT_REFUSED = StatusCode(
    554, "5.4.0", "Máy chủ thư từ chối chuyển tiếp / The mail server refused the message"
)


def policy_reject(vi: str, en: str, rule: str, citation: str) -> str:
    """`550 5.7.1 <Vietnamese> / <English> (<rule id>, <citation>)`: the reject explains itself in one line."""
    text = " ".join(f"{vi} / {en} ({rule}, {citation})".split())
    return f"{R550_POLICY.code} {R550_POLICY.enhanced} {text}"[:990]


def ascii_vietnamese(text: str) -> str:
    """Vietnamese without diacritics ("Gửi, nhận tệp" → "Gui, nhan tep"), for ASCII-only SMTP."""
    text = text.replace("đ", "d").replace("Đ", "D").replace("→", "->")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.encode("ascii", "replace").decode("ascii")


def for_client(reply: str, utf8: bool) -> str:
    """SMTP reply text is US-ASCII unless the client negotiated SMTPUTF8 (RFC 5321 §2.4, RFC 6531)."""
    return reply if utf8 else ascii_vietnamese(reply)
