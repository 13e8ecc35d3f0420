"""What a message says: state-secret stamps (DN-2022 Đ13.7, Đ15.3) and sign-ups to online services
with an official mailbox (DN-2022 Đ13.4).

Precision matters as much as recall: "mật khẩu" (password), "bảo mật", "bí mật" in prose, "mật
ong" and the name "Nguyễn Văn Mật" are not stamps. A stamp is the level standing on its own: the
whole line, in brackets, at the head of the subject followed by a separator, after "Độ mật:",
or written in capitals as a word of its own (not part of a compound such as MẬT KHẨU).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from rules.base import Action, Cite, Finding, Severity, Title, TrafficRule
from rules.facts import MessageFacts, domain_of, in_domains
from rules.profile import Profile, profile_table

# Words that make "mật" part of a compound, before or after it.
_COMPOUND_BEFORE = {"bảo", "bí", "thân", "cơ", "mật", "độ", "giữ"}
_COMPOUND_AFTER = {"khẩu", "mã", "thiết", "ong", "thám", "báo", "danh", "lệnh", "độ", "vụ", "ước", "ngữ", "hiệu"}
_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=8)
def _content(name: str) -> dict[str, Any]:
    return profile_table(name, "content")


def fold(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).lower()


def _levels(stamps: list[str]) -> list[tuple[str, list[str]]]:
    return [(s, s.lower().split()) for s in stamps]


def stamp_in(line: str, stamps: list[str], *, subject: bool = False) -> str | None:
    """The secrecy level stamped in one line of text (or a subject), or None."""
    text = " ".join(line.split())
    if not text:
        return None
    words = _WORD.findall(text)
    lowered = [w.lower() for w in words]
    for stamp, parts in _levels(stamps):
        n = len(parts)
        # The whole line is the stamp (punctuation and brackets aside).
        if lowered == parts:
            return stamp
        for i in range(len(lowered) - n + 1):
            if lowered[i : i + n] != parts:
                continue
            if i >= 2 and lowered[i - 2 : i] == ["độ", "mật"]:
                return stamp  # "Độ mật: Tối mật"
            span = " ".join(words[i : i + n])
            if re.search(r"[\[\(]\s*" + re.escape(span) + r"\s*[\]\)]", text):
                return stamp  # [Mật], (Tối mật)
            if n == 1 and i and lowered[i - 1] in ("tối", "tuyệt"):
                continue  # part of a graver level, found on its own pass
            # A neighbour makes a compound (mật khẩu, bảo mật) only when written in the same case:
            # "MẬT Báo cáo" is a stamp, "MẬT KHẨU" and "mật khẩu" are not.
            before = words[i - 1] if i else ""
            after = words[i + n] if i + n < len(words) else ""
            same_case = [w for w in (before, after) if w and w.isupper() == span.isupper()]
            if n == 1 and any(w.lower() in (_COMPOUND_BEFORE if w == before else _COMPOUND_AFTER) for w in same_case):
                continue
            if span.isupper() and span == stamp:
                return stamp  # MẬT written in capitals as a word of its own
            if subject and i == 0 and re.match(r"^\W*" + re.escape(span) + r"\s*([-–:|/]|$)", text):
                return stamp  # "Mật - Kế hoạch", "Tối mật: …"
    return None


def stamp_in_filename(name: str) -> str | None:
    """TOI-MAT_bao-cao.docx, tuyet_mat.pdf, MAT - ke hoach.doc (without diacritics too)."""
    tokens = [t for t in re.split(r"[^a-z0-9]+", fold(name)) if t]
    for i in range(len(tokens) - 1):
        if tokens[i : i + 2] == ["tuyet", "mat"]:
            return "TUYỆT MẬT"
        if tokens[i : i + 2] == ["toi", "mat"]:
            return "TỐI MẬT"
    # "mat" alone is a very common syllable: only as the first token, before the rest of the name.
    if tokens[:1] == ["mat"] and len(tokens) > 2 and tokens[1] not in {fold(w) for w in _COMPOUND_AFTER}:
        return "MẬT"
    return None


class ClassifiedContent(TrafficRule):
    id = "classified-content"
    title = Title(
        vi="Gửi, nhận tài liệu có đóng dấu mật qua thư điện tử",
        en="Document stamped as a state secret sent by e-mail",
    )
    cites = (Cite("DN-2022", 13, 7), Cite("DN-2022", 15, 3), Cite("BDi-2017", 2, 2), Cite("LC-2015", 7, 1))
    severity = Severity.CRITICAL
    default_action = Action.QUARANTINE

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        stamps = list(_content(profile.name)["classified_stamps"])
        found = stamp_in(msg.subject, stamps, subject=True)
        if found:
            yield self.finding(f"tiêu đề / subject: {found}")
            return
        for line in msg.body_text.splitlines()[:2000]:
            found = stamp_in(line, stamps)
            if found:
                yield self.finding(f"nội dung thư / body: {found}")
                return
        for att in msg.attachments:
            found = stamp_in_filename(att.filename or "") or stamp_in(att.filename or "", stamps, subject=True)
            if not found:
                found = next(filter(None, (stamp_in(ln, stamps) for ln in att.text.splitlines()[:5000])), None)
            if found:
                yield self.finding(f"tệp / file {att.display_name}: {found}")
                return


class ServiceRegistration(TrafficRule):
    id = "service-registration"
    title = Title(
        vi="Dùng hộp thư công vụ đăng ký mạng xã hội, dịch vụ trực tuyến",
        en="Official mailbox used to register with a social network or online service",
    )
    cites = (Cite("DN-2022", 13, 4),)
    severity = Severity.WARNING
    default_action = Action.TAG

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        data = _content(profile.name)
        services: dict[str, str] = dict(data["services"])
        sender = domain_of(msg.mail_from) or domain_of(msg.header("From") or "")
        service = next((name for d, name in services.items() if in_domains(sender, (d,))), None)
        if service is None:
            return
        official = [r for r in msg.rcpt_tos if msg.domains.is_local(r)]
        if not official:
            return
        text = f"{msg.subject}\n{msg.body_text[:5000]}".lower()
        folded = fold(text)
        phrases = [str(p) for p in data["registration_phrases"]]
        if any(p in text or fold(p) in folded for p in phrases):
            for rcpt in official:
                yield self.finding(f"{rcpt} đăng ký / registered at {service} ({sender})")


RULES: tuple[type[TrafficRule], ...] = (ClassifiedContent, ServiceRegistration)
