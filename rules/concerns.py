"""Which mailboxes a message, or one finding in it, is about: the one answer alerts, reports and the
metrics' ``unit`` label all use (it is decided when the filter records the message).

- A finding that names its mailbox is about that mailbox: the official box whose Sieve rule or
  inbox rule forwarded the message (DN-2022 Đ13.5), a sender held for its sending (Đ13.3).
- Otherwise mail going out (outbound, internal) is about its sender, and mail coming in about its
  local recipients.
- Mail that touches no local mailbox (relayed) is about its sender, so that someone still hears of it.

A message is about the mailboxes its findings name, if any; else its envelope decides as above.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence


def concerned_mailboxes(
    mail_from: str,
    rcpt_tos: Sequence[str],
    direction: str,
    is_local: Callable[[str], bool],
    named: Iterable[str] = (),
) -> tuple[str, ...]:
    """The mailboxes (lower case, in order, no repeats) that the message or finding is about."""
    chosen = _unique(a for a in named if a)
    if chosen:
        return chosen
    sender = mail_from.lower()
    if direction in ("outbound", "internal") and sender:
        return (sender,)
    local = _unique(r for r in rcpt_tos if is_local(r))
    if local:
        return local
    if sender:
        return (sender,)
    return _unique(rcpt_tos[:1])


def _unique(addresses: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a.lower() for a in addresses))
