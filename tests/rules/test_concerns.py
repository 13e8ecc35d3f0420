"""Which mailboxes a message or finding is about (rules/concerns.py): the one answer alerts, reports and metrics use."""

from __future__ import annotations

from rules.concerns import concerned_mailboxes


def local(address: str) -> bool:
    return address.lower().endswith("@example.gov.vn")


def test_a_named_mailbox_wins_over_the_envelope() -> None:
    # A Sieve redirect at ketoan@ of mail from outside: the envelope says the outside sender.
    assert concerned_mailboxes("lanhdao@partner.gov.vn", ["x@gmail.com"], "relay", local, ["Ketoan@Example.gov.vn"]) == (
        "ketoan@example.gov.vn",
    )
    assert concerned_mailboxes("a@example.gov.vn", ["b@x.com"], "outbound", local, ["", "c@example.gov.vn", "c@example.gov.vn"]) == (
        "c@example.gov.vn",
    )


def test_mail_going_out_is_about_its_sender_and_mail_coming_in_about_its_local_recipients() -> None:
    assert concerned_mailboxes("Hoa@example.gov.vn", ["x@gmail.com"], "outbound", local) == ("hoa@example.gov.vn",)
    assert concerned_mailboxes("hoa@example.gov.vn", ["vp@example.gov.vn"], "internal", local) == ("hoa@example.gov.vn",)
    rcpts = ["vp@example.gov.vn", "x@gmail.com", "KT@example.gov.vn", "vp@example.gov.vn"]
    assert concerned_mailboxes("x@gmail.com", rcpts, "inbound", local) == ("vp@example.gov.vn", "kt@example.gov.vn")


def test_relayed_mail_is_about_its_sender_or_else_its_first_recipient() -> None:
    assert concerned_mailboxes("a@partner.gov.vn", ["x@gmail.com"], "relay", local) == ("a@partner.gov.vn",)
    assert concerned_mailboxes("", ["X@gmail.com", "y@gmail.com"], "relay", local) == ("x@gmail.com",)
    assert concerned_mailboxes("", [], "relay", local) == ()
