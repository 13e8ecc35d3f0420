"""What a message says: state-secret stamps (DN-2022 Đ13.7, LC-2015 Đ7.1, BDi-2017 Đ2.2) and service
sign-ups (DN-2022 Đ13.4)."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from rules.base import Action, Finding, Severity, Title, TrafficRule
from rules.facts import MessageFacts, domain_of, header_addresses, in_domains
from rules.profile import Profile

# Every pattern here meets text an attacker wrote, so none may backtrack over it: runs are matched
# possessively (``++``); the segment separators, which would rescan a run of spaces or dashes from
# each of its characters, only ever see runs squeezed to one character (words ignore the
# difference). Each is timed on long adversarial input by the hostile-mail benchmark.
_WORD = re.compile(r"[^\W_]++")
_CELL_SPLIT = re.compile(r"\t++|\s{2,}+|\s\|\s++")
_SEGMENT_SPLIT = re.compile(r"\s*[:;|–—]\s*|\s+-+\s*|\s*-+\s+|\s+/\s+")
_SPACE_RUN = re.compile(r"\s{2,}+")
_DASH_RUN = re.compile(r"-{2,}+")
_BRACKETED = re.compile(r"[\[(【{«<]([^\[\]()【】{}«»<>]{1,40})[\])】}»>]")
_REPLY_PREFIX = re.compile(
    r"^\s*+(?:(?:re|fw|fwd|aw|sv|vs|tl|tr|trả lời|chuyển tiếp)\s*+(?:\[\d++\])?\s*+:\s*+)++", re.IGNORECASE
)
_MAX_LINES = 20000
_MAX_CELL_WORDS = 8
# Cells looked at in one text: a stamp heads a document or a table, and a text of 1 MiB can hold
# 200,000 one-word cells (each is a few microseconds of work).
_MAX_CELLS = 20000


# Normalisation sorts each run of combining marks, in time quadratic in the run (40,000 marks took
# 4.7 s). Unicode's stream-safe text format (UAX #15) bounds runs to 30 marks; so does this, by
# putting a COMBINING GRAPHEME JOINER after every 30, before any normalisation.
_STREAM_SAFE_RUN = 30
_CGJ = "\u034f"


@lru_cache(maxsize=1)
def _long_mark_runs() -> re.Pattern[str]:
    marks = [c for c in range(0x110000) if unicodedata.combining(chr(c))]
    ranges: list[list[int]] = []
    for c in marks:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    cls = "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges)
    return re.compile(f"([{cls}]{{{_STREAM_SAFE_RUN}}})(?=[{cls}])")


_long_mark_runs()  # built at import (about 50 ms), never in the middle of a message


def stream_safe(text: str) -> str:
    """``text`` with no run of more than 30 combining marks, so that normalising it is linear."""
    if text.isascii():
        return text
    return _long_mark_runs().sub("\\1" + _CGJ, text)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", stream_safe(text))


def fold(text: str) -> str:
    """Lower case without diacritics: "Tối Mật" → "toi mat", "Đ" → "d"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", stream_safe(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    """The words of ``text``: letters and digits, punctuation, brackets and underscores dropped."""
    return _WORD.findall(nfc(text))


def words_upto(text: str, most: int, *, normalized: bool = False) -> list[str] | None:
    """The words of ``text`` if it has at most ``most`` of them, else None (without making them all).

    ``normalized``: ``text`` is already NFC (a line of a text normalised once, as a whole).
    """
    text = text if normalized else nfc(text)
    if len(text) <= 64 * most:  # short: findall is cheaper than stopping early
        found = _WORD.findall(text)
    else:
        found = [m.group() for m in itertools.islice(_WORD.finditer(text), most + 1)]
    return found if len(found) <= most else None


def _upper(tokens: Iterable[str]) -> bool:
    return all(t.isupper() for t in tokens)


@dataclass(frozen=True)
class Stamps:
    """The profile's stamps, labels and false friends, prepared for matching."""

    levels: tuple[tuple[str, tuple[str, ...]], ...]  # (stamp as shown, its words case-folded), gravest first
    labels: tuple[tuple[str, ...], ...]
    false_friends: frozenset[str]  # case-folded, with and without diacritics

    @property
    def span(self) -> int:
        """The most words a labelled level can be ("Độ mật: Tối mật" is 4)."""
        return max((len(label) for label in self.labels), default=0) + max((len(p) for _, p in self.levels), default=0)

    @classmethod
    def of(cls, profile: Profile) -> Stamps:
        return _stamps(profile.classified_stamps, profile.classified_labels, profile.classified_false_friends)

    def rank(self, stamp: str) -> int:
        return next(i for i, (s, _) in enumerate(self.levels) if s == stamp)

    def gravest(self, found: Iterable[str | None]) -> str | None:
        hits = [s for s in found if s]
        return min(hits, key=self.rank) if hits else None

    def level(self, tokens: list[str]) -> str | None:
        """The level that ``tokens`` are, exactly (any case)."""
        folded = tuple(t.casefold() for t in tokens)
        return next((s for s, parts in self.levels if folded == parts), None)

    def labelled(self, tokens: list[str]) -> str | None:
        """The level after a label: "Độ mật: Tối mật" (any case)."""
        folded = [t.casefold() for t in tokens]
        for label in self.labels:
            if tuple(folded[: len(label)]) == label:
                return self.level(tokens[len(label) :])
        return None

    def is_false_friend(self, token: str) -> bool:
        return token.casefold() in self.false_friends or (token.isascii() and fold(token) in self.false_friends)


@lru_cache(maxsize=8)
def _stamps(stamps: tuple[str, ...], labels: tuple[str, ...], false_friends: frozenset[str]) -> Stamps:
    return Stamps(
        levels=tuple((nfc(s), tuple(w.casefold() for w in words(s))) for s in stamps),
        labels=tuple(tuple(w.casefold() for w in words(label)) for label in labels),
        false_friends=frozenset(nfc(w).casefold() for w in false_friends) | {fold(w) for w in false_friends},
    )


def stamp_in_line(
    line: str, st: Stamps, cells_left: list[int] | None = None, *, normalized: bool = False
) -> str | None:
    """The level stamped on one line of body or document text, or None.

    A line, or a cell of it (split at tabs and runs of spaces), that is the level in capitals
    ("TỐI MẬT", "- MẬT -", "[MẬT]"), or a label with a level in any case ("Độ mật: Tối mật"). A
    title-case "Tuyệt mật" alone is not enough: training material lists the levels that way.
    """
    whole = words_upto(line, st.span, normalized=normalized)  # more words cannot be a label and a level
    found: list[str | None] = [st.labelled(whole) if whole else None]
    for cell in _CELL_SPLIT.split(line.strip()):
        if cells_left is not None:
            if cells_left[0] <= 0:
                break
            cells_left[0] -= 1
        tokens = words_upto(cell, _MAX_CELL_WORDS, normalized=normalized)
        if not tokens:
            continue
        found.append(st.labelled(tokens))
        if _upper(tokens):
            found.append(st.level(tokens))
    return st.gravest(found)


def stamp_in_text(text: str, st: Stamps) -> str | None:
    """The gravest level stamped anywhere in a text (a message body, an attachment's text)."""
    cells_left = [_MAX_CELLS]
    lines = nfc(text).splitlines()[:_MAX_LINES]
    return st.gravest(stamp_in_line(line, st, cells_left, normalized=True) for line in lines if line.strip())


def segments(text: str) -> list[str]:
    """``text`` split at separators (":", ";", "|", " - ", " / "…), runs of spaces and dashes squeezed
    first so that the split is linear; the pieces differ from an unsqueezed split only in spacing."""
    return _SEGMENT_SPLIT.split(_DASH_RUN.sub("-", _SPACE_RUN.sub(" ", text)))


def stamp_in_subject(subject: str, st: Stamps) -> str | None:
    """The gravest level stamped in a subject, or None.

    The whole subject ("Mật"); brackets ("[MẬT] …", "(Tối mật)"); the head or tail segment around a
    separator ("TỐI MẬT - Kế hoạch", "Công văn số 45 - MẬT"); after a label ("Độ mật: Tối mật");
    or capitals as words of their own ("TỐI MẬT Kế hoạch", "Báo cáo MẬT về …"). "mật khẩu",
    "bảo mật", "bí mật", "mật ong", "thân mật", "mật thiết", "Nguyễn Văn Mật" and a lower-case
    "mật" inside a sentence are never stamps.
    """
    text = _REPLY_PREFIX.sub("", nfc(subject)).strip()
    tokens = words(text)
    if not tokens:
        return None
    found: list[str | None] = [st.level(tokens), st.labelled(tokens)]
    found += [st.level(words(inner)) for inner in _BRACKETED.findall(text)]
    parts = [words(s) for s in segments(text)]
    parts = [s for s in parts if s]
    if len(parts) > 1:
        for i, seg in enumerate(parts):
            after_label = i > 0 and tuple(t.casefold() for t in parts[i - 1]) in st.labels
            if i in (0, len(parts) - 1) or after_label or _upper(seg):
                found.append(st.level(seg))
    found += _capital_stamps(tokens, st)
    return st.gravest(found)


def _capital_stamps(tokens: list[str], st: Stamps) -> Iterator[str]:
    """Levels written in capitals as words of their own inside a subject."""
    for stamp, parts in st.levels:
        n = len(parts)
        for i in range(len(tokens) - n + 1):
            span = tokens[i : i + n]
            if not _upper(span) or st.level(span) != stamp:
                continue
            if n > 1:
                yield stamp
                continue
            before = tokens[i - 1] if i else ""
            after = tokens[i + 1] if i + 1 < len(tokens) else ""
            graver = before and any(before.casefold() == p[0] for _, p in st.levels if len(p) > 1)
            compound = after.islower() and st.is_false_friend(after)  # "MẬT khẩu"; "MẬT Báo cáo" is a stamp
            if graver or before.isupper() or after.isupper() or compound:
                continue  # TỐI MẬT (found as such), BẢO MẬT, MẬT KHẨU, NGUYỄN VĂN MẬT
            yield stamp


def _same_word(token: str, word: str) -> bool:
    """A file-name token is a stamp's word: exactly, or without diacritics when typed in ASCII."""
    return token.casefold() == word if not token.isascii() else token.casefold() == fold(word)


def stamp_in_filename(name: str, st: Stamps) -> str | None:
    """The level stamped in a file name (its last path element, extension aside), or None.

    Also without diacritics: "TOI-MAT_bao-cao.docx", "tuyet_mat.pdf". The two-word levels count
    anywhere as adjacent tokens; "MẬT" only as the first token. The ASCII "mat" is also mặt, mắt
    and mát, so it counts only in capitals ("MAT_bao-cao"), in brackets or before " - " / ":"
    ("Mat - ke hoach"), and never before a false friend of the profile ("MAT_BANG" = mặt bằng,
    "mat-khau"). Trade-off: "mat_ke_hoach.doc" in lower case is missed, and "toi-mat-vi.txt"
    (tôi mất ví) would be flagged.
    """
    base = re.split(r"[\\/]", nfc(name))[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    matches = list(_WORD.finditer(stem))
    tokens = [m.group() for m in matches]
    found: list[str] = []
    for stamp, parts in st.levels:
        n = len(parts)
        if n > 1:
            if any(
                all(_same_word(t, w) for t, w in zip(tokens[i : i + n], parts, strict=True))
                for i in range(len(tokens) - n + 1)
            ):
                found.append(stamp)
            continue
        if not tokens or not _same_word(tokens[0], parts[0]):
            continue
        first = tokens[0]
        gap = stem[matches[0].end() : matches[1].start()] if len(matches) > 1 else ""
        bracketed = bool(re.search(r"[\[(]\s*$", stem[: matches[0].start()]))
        separated = bool(re.search(r"[:\])]|\s-|-\s", gap))  # "Mat - ke hoach", "(mat) ke hoach"
        if bracketed or separated:
            found.append(stamp)
        elif len(tokens) > 1 and st.is_false_friend(tokens[1]):
            continue  # mật khẩu, MAT_BANG (mặt bằng), mat-khau
        elif not first.isascii() or first.isupper():
            found.append(stamp)  # "MẬT_bao-cao.pdf", "Mật_ke_hoach.docx", "MAT_bao-cao.docx"
    return st.gravest(found)


class ClassifiedContent(TrafficRule):
    """Documents stamped as state secrets (MẬT, TỐI MẬT, TUYỆT MẬT) circulated by e-mail."""

    id = "classified-content"
    title = Title(
        vi="Lưu chuyển văn bản, tài liệu có đóng dấu độ mật qua thư điện tử",
        en="Document stamped as a state secret sent by e-mail",
    )
    topic = ("van ban mat", "tai lieu co tinh mat", "bi mat nha nuoc", "van ban mat")
    severity = Severity.CRITICAL
    default_action = Action.QUARANTINE

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        st = Stamps.of(profile)
        level = stamp_in_subject(msg.subject, st)
        if level:
            yield self.finding(f"tiêu đề / subject: {level}")
        level = stamp_in_text(msg.body_text, st)
        if level:
            yield self.finding(f"nội dung / body: {level}")
        for att in msg.attachments:
            level = stamp_in_text(att.text, st) if att.text else None
            if level:
                yield self.finding(f"tệp / file {att.display_name}: {level}")
            elif att.filename and (level := stamp_in_filename(att.filename, st)):
                yield self.finding(f"tên tệp / file name {att.filename}: {level}")
            for member in att.members:
                level = stamp_in_filename(member.name, st)
                if level:
                    yield self.finding(f"tên tệp / file name {att.display_name} → {member.name}: {level}")


@lru_cache(maxsize=16)
def phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for a list of phrases: whole words, any case and spacing, "*" = any one word."""
    alternatives = []
    for phrase in phrases:
        parts = nfc(phrase).casefold().split()
        if parts:
            alternatives.append(r"\s++".join(r"\S++" if p == "*" else re.escape(p) for p in parts))
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(alternatives, key=len, reverse=True)) + r")(?!\w)")


def _matches(phrases: tuple[str, ...], text: str) -> bool:
    pattern = phrase_pattern(phrases)
    return bool(pattern and pattern.search(nfc(text).casefold()))


def service_of(address: str, services: dict[str, str]) -> tuple[str, str] | None:
    """(service name, matched domain) for a sender address, the most specific domain first."""
    domain = domain_of(address)
    if not domain:
        return None
    for known in sorted(services, key=len, reverse=True):
        if in_domains(domain, (known,)):
            return services[known], known
    return None


def senders(msg: MessageFacts) -> list[str]:
    """The envelope sender, then the From: addresses."""
    found = [msg.mail_from]
    found += [addr for value in msg.header_all("From") for addr in header_addresses(value)]
    return found


class ServiceRegistration(TrafficRule):
    """An official mailbox used to sign up to a social network or online service."""

    id = "service-registration"
    title = Title(
        vi="Dùng hộp thư công vụ tham gia mạng xã hội, đăng ký tài khoản trên môi trường mạng",
        en="Official mailbox used to register with a social network or online service",
    )
    topic = ("mang xa hoi", "dang ky", "muc dich nao khac")
    severity = Severity.WARNING
    default_action = Action.TAG

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        services = dict(profile.service_domains) | dict(profile.service_domains_extra)
        service = next(filter(None, (service_of(a, services) for a in senders(msg))), None)
        if service is None:
            return
        official = list(dict.fromkeys(r.lower() for r in msg.rcpt_tos if msg.domains.is_local(r)))
        if not official:
            return
        if not (
            _matches(profile.registration_subject_phrases, msg.subject)
            or _matches(profile.registration_body_phrases, msg.body_text)
        ):
            return  # a notification or newsletter, not a sign-up
        name, domain = service
        for rcpt in official:
            yield self.finding(f"{rcpt} đăng ký / registered at {name} ({domain})")


RULES: tuple[type[TrafficRule], ...] = (ClassifiedContent, ServiceRegistration)
