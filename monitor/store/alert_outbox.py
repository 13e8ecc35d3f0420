"""The alert outbox seen from the metrics: how many mails are in the dead-letter state."""

from __future__ import annotations

from monitor.store import Store


def dead_letters(store: Store) -> int:
    """Alert and digest mails given up on (status "failed": refused for good, or out of attempts)."""
    if not store.db.table("alert_outbox").exists():
        return 0
    (count,) = store.db.execute("select count(*) from alert_outbox where status = 'failed'").fetchone()
    return int(count)
