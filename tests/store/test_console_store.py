"""The console's queries over a real store: which units a message belongs to, pages by key,
counts by unit, the mailboxes' last evaluation, sessions, sign-in attempts and the audit trail."""

from __future__ import annotations

import json

from monitor.store import Concern, FindingRecord, MessageRecord, Store
from monitor.web.imap_signin import acceptable
from rules.concerns import concerned_mailboxes
from tests.conftest import StoreTarget, tables


def store_with_units(target: StoreTarget) -> Store:
    store = Store(target)
    tables(target).insert(
        "units",
        {"unit": "a", "name": "Sở A", "it_contact": json.dumps(["IT.A@example.gov.vn"])},
        {"unit": "b", "name": "Sở B", "it_contact": json.dumps(["it.b@example.gov.vn", "it.ab@example.gov.vn"])},
        {"unit": "c", "name": "Sở C", "it_contact": json.dumps(["it.ab@example.gov.vn"])},
    )
    tables(target).insert(
        "mailboxes",
        {"address": "x@example.gov.vn", "unit": "a", "kind": "personal", "status": "active"},
        {"address": "y@example.gov.vn", "unit": "b", "kind": "personal", "status": "active"},
    )
    return store


def keep(store: Store, qid: str, time: str, mail_from: str, rcpts: list[str], status: str = "held") -> None:
    store.quarantine.add(
        {"id": qid, "time": time, "mail_from": mail_from, "rcpt_tos": rcpts, "size": 100, "status": status, "path": ""}
    )


def test_it_contacts_are_found_whatever_the_case(store_target: StoreTarget) -> None:
    console = store_with_units(store_target).console
    assert console.contact_units("it.a@example.gov.vn") == ["a"]
    assert console.contact_units("It.AB@example.gov.vn") == ["b", "c"]
    assert console.contact_units("nobody@example.gov.vn") == []


def test_a_message_belongs_to_the_units_of_its_local_sender_and_recipients(store_target: StoreTarget) -> None:
    store = store_with_units(store_target)
    keep(store, "q1", "2026-11-01T00:00:01+00:00", "X@example.gov.vn", ["partner@gmail.com"])
    keep(store, "q2", "2026-11-01T00:00:02+00:00", "partner@gmail.com", ["y@example.gov.vn"])
    keep(store, "q3", "2026-11-01T00:00:03+00:00", "x@example.gov.vn", ["Y@example.gov.vn"])
    keep(store, "q4", "2026-11-01T00:00:04+00:00", "a@gmail.com", ["b@gmail.com"])
    console = store.console
    assert console.quarantine_units("q1") == {"a"}
    assert console.quarantine_units("q3") == {"a", "b"}  # two units: both see it
    assert console.quarantine_units("q4") == set()  # no local mailbox: administrators only
    ids = lambda units: [r["id"] for r in console.quarantine_page(units)]  # noqa: E731
    assert ids(["a"]) == ["q3", "q1"]
    assert ids(["b"]) == ["q3", "q2"]
    assert ids(None) == ["q4", "q3", "q2", "q1"]
    assert console.held_totals(["a"]) == (2, 200)
    assert console.held_totals(None) == (4, 400)


def test_the_quarantine_pages_by_time_and_id_with_filters(store_target: StoreTarget) -> None:
    store = store_with_units(store_target)
    for i in range(7):
        keep(
            store,
            f"q{i}",
            "2026-11-01T00:00:00+00:00",
            "x@example.gov.vn",
            ["z@gmail.com"],
            "held" if i % 2 else "rejected",
        )
    console = store.console
    first = console.quarantine_page(["a"], limit=3)
    assert [r["id"] for r in first] == ["q6", "q5", "q4"]
    second = console.quarantine_page(["a"], before=(first[-1]["time"], first[-1]["id"]), limit=3)
    assert [r["id"] for r in second] == ["q3", "q2", "q1"]
    assert [r["id"] for r in console.quarantine_page(["a"], status="held")] == ["q5", "q3", "q1"]
    assert [r["id"] for r in console.quarantine_page(None, address="Z@gmail.com", limit=2)] == ["q6", "q5"]
    assert console.quarantine_page(["b"]) == []


def record(store: Store, mail_from: str, rcpts: list[str], direction: str, time: str = "2026-11-02T01:00:00+00:00") -> None:
    """One message with a public-provider-mailbox finding, about the mailboxes the filter would name."""
    about = concerned_mailboxes(mail_from, rcpts, direction, lambda a: a.endswith("@example.gov.vn"))
    units = store.mailboxes.units_of(about)
    concerns = tuple(Concern(m, units.get(m, "")) for m in about)
    message = MessageRecord(
        "<m@x>", "Q", "127.0.0.1", mail_from, tuple(rcpts), direction, 100, "tag", 0.1, concerns=concerns, time=time
    )
    finding = FindingRecord("public-provider-mailbox", "warning", "tag", "", "", concerns)
    store.messages.record(message, [finding])


def test_findings_count_for_each_unit_they_are_about(store_target: StoreTarget) -> None:
    store = store_with_units(store_target)
    record(store, "p@gmail.com", ["x@example.gov.vn", "y@example.gov.vn"], "inbound")  # about x (a) and y (b)
    record(store, "x@example.gov.vn", ["p@gmail.com"], "outbound")  # about its sender: a
    record(store, "p@gmail.com", ["q@gmail.com"], "relay")  # about no mailbox of ours: unit ""
    record(store, "z@example.gov.vn", ["p@gmail.com"], "outbound")  # z is not in the directory yet
    record(store, "x@example.gov.vn", ["p@gmail.com"], "outbound", "2026-10-01T00:00:00+00:00")
    # The directory learns z's unit before the count: a concern recorded without one takes today's.
    tables(store_target).insert("mailboxes", {"address": "z@example.gov.vn", "unit": "c", "kind": "personal"})
    console = store.console
    assert console.count_new_findings("+420 minutes", batch=3) == 3
    assert console.count_new_findings("+420 minutes", batch=3) == 2
    assert console.count_new_findings("+420 minutes") == 0  # nothing new: nothing counted twice
    rule = "public-provider-mailbox"
    everything = console.finding_counts("2026-11-02", "2026-11-02", None)
    assert everything == {
        ("2026-11-02", "a", rule): 2,
        ("2026-11-02", "b", rule): 1,
        ("2026-11-02", "c", rule): 1,
        ("2026-11-02", "", rule): 1,
        ("2026-11-02", "*", rule): 4,  # each finding once
    }
    assert console.finding_counts("2026-11-01", "2026-11-30", ["b"]) == {("2026-11-02", "b", rule): 1}
    assert console.finding_counts("2026-10-01", "2026-10-01", ["a"]) == {("2026-10-01", "a", rule): 1}
    record(store, "y@example.gov.vn", [], "outbound")
    assert console.count_new_findings("+420 minutes") == 1
    assert console.finding_counts("2026-11-02", "2026-11-02", ["b"]) == {("2026-11-02", "b", rule): 2}


def test_the_mailboxes_last_evaluation_replaces_the_one_before(store_target: StoreTarget) -> None:
    console = store_with_units(store_target).console

    def row(address: str, unit: str, state: str, rules: list[str]) -> dict[str, object]:
        return {
            "address": address,
            "unit": unit,
            "kind": "personal",
            "state": state,
            "last_login": None,
            "checks_per_working_day": 1.5,
            "check_target": 2,
            "quota_used_bytes": 10,
            "findings": [{"rule": r, "detail": "d", "citation": "c"} for r in rules],
        }

    console.replace_mailbox_view(
        [
            row("a1@x.vn", "a", "active", ["inactive"]),
            row("a2@x.vn", "a", "suspend-due", []),
            row("b1@x.vn", "b", "active", []),
        ],
        "2026-11-01T00:00:00+00:00",
        chunk=2,
    )
    assert [r["address"] for r in console.mailbox_page(["a"])] == ["a1@x.vn", "a2@x.vn"]
    assert [r["address"] for r in console.mailbox_page(None, state="active")] == ["a1@x.vn", "b1@x.vn"]
    assert [r["address"] for r in console.mailbox_page(None, after="a1@x.vn", limit=1)] == ["a2@x.vn"]
    assert console.mailbox_page(["a"])[0]["findings"][0]["rule"] == "inactive"
    assert console.mailbox_counts(["a"], "state") == {("a", "active"): 1, ("a", "suspend-due"): 1}
    assert console.mailbox_counts(None, "rule") == {("a", "inactive"): 1}
    console.replace_mailbox_view([row("b1@x.vn", "b", "suspended", [])], "2026-11-02T00:00:00+00:00")
    assert [r["address"] for r in console.mailbox_page(None)] == ["b1@x.vn"]  # the others left the directory
    assert console.mailbox_counts(None, "state") == {("b", "suspended"): 1}
    assert console.mailbox_view_evaluated_at() == "2026-11-02T00:00:00+00:00"


def test_sessions_attempts_and_the_audit_trail(store_target: StoreTarget) -> None:
    records = store_with_units(store_target).console_sessions
    records.open_session("k1", "it.a@example.gov.vn", "t1", "2026-11-01T00:00:00+00:00", "10.0.0.1")
    records.open_session("k2", "it.b@example.gov.vn", "t2", "2026-11-01T05:00:00+00:00", "10.0.0.2")
    assert records.session("k1") is not None and records.session("k1").csrf == "t1"  # type: ignore[union-attr]
    records.touch_session("k2", "2026-11-01T06:00:00+00:00")
    records.forget_old("2026-11-01T01:00:00+00:00", "2026-10-31T00:00:00+00:00", "2026-10-31T00:00:00+00:00")
    assert records.session("k1") is None and records.session("k2") is not None
    for i, outcome in enumerate(["failed", "failed", "ok", "limited", "failed"]):
        records.record_attempt(f"2026-11-01T00:0{i}:00+00:00", "x@example.gov.vn", "10.0.0.9", outcome)
    assert records.failures_since("2026-11-01T00:00:00+00:00", address="x@example.gov.vn") == 3
    assert records.failures_since("2026-11-01T00:02:00+00:00", client="10.0.0.9") == 1
    records.record_action("2026-11-01T00:00:00+00:00", "it.a@example.gov.vn", "release", "q1", ["a"], "why", "250")
    records.record_action("2026-11-01T00:01:00+00:00", "boss@example.gov.vn", "delete", "q2", ["a", "b"], "spam", "ok")
    records.record_action("2026-11-01T00:02:00+00:00", "boss@example.gov.vn", "delete", "q3", [], "junk", "ok")
    assert [a["target"] for a in records.actions_page(["b"])] == ["q2"]
    assert [a["target"] for a in records.actions_page(None)] == ["q3", "q2", "q1"]
    newest = records.actions_page(None, limit=1)[0]["id"]
    assert [a["target"] for a in records.actions_page(["a"], before=newest)] == ["q2", "q1"]


def test_what_cannot_be_a_sign_in_never_reaches_dovecot() -> None:
    assert acceptable("it.a@example.gov.vn", "mật khẩu đúng")
    assert not acceptable("it.a@example.gov.vn", "")
    assert not acceptable("it.a@example.gov.vn", "a\0b")
    assert not acceptable("it.a@example.gov.vn\r\nA1 LOGOUT", "x")
    assert not acceptable("nobody", "x")
    assert not acceptable("a" * 250 + "@b.vn", "x")
    assert not acceptable("it.a@example.gov.vn", "x" * 2000)
