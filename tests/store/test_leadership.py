"""Which node runs each job: advisory locks on PostgreSQL (taken, kept, freed when the node's connection
ends), one node on SQLite, and the shared record of when each job last started."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from mailstack.postgres import PostgresCluster
from monitor.store import Store, open_leadership
from monitor.store.leadership import Leadership, SingleNode
from tests.conftest import StoreTarget

_schemas = itertools.count(1)


@pytest.fixture
def shared(postgres_cluster: PostgresCluster) -> str:
    """A store schema in the session's PostgreSQL, whatever the run's back end."""
    n = next(_schemas)
    if n == 1:
        postgres_cluster.create_database("leadership_test")
    url = postgres_cluster.create_schema("leadership_test", f"lead_{n}")
    Store(url).close()
    return url


def test_one_node_leads_a_job_until_its_connection_ends(shared: str) -> None:
    a, b = Leadership(shared), Leadership(shared)
    try:
        assert a.hold("sweep") and a.hold("sweep")  # taken, then kept
        assert not b.hold("sweep") and b.hold("digest")  # another job is free
        assert a.held() == {"sweep"} and b.held() == {"digest"}
        a.close()  # as a killed node's connection ends
        assert b.hold("sweep") and b.held() == {"sweep", "digest"}
        b.let_go("digest")
        assert a.hold("digest")  # a opens a new connection and takes what is free
    finally:
        a.close()
        b.close()


def test_a_leader_records_its_runs_without_waiting_on_its_own_lock(shared: str) -> None:
    """The leader holds its job's lock for the whole session; recording a start must not wait on it."""
    lead = Leadership(shared, lock_timeout=1.0)
    store = Store(shared, lock_timeout=1.0)
    try:
        assert lead.hold("sweep")
        now = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
        assert store.job_runs.start_if_due("sweep", now, timedelta(minutes=54))
        assert not store.job_runs.start_if_due("sweep", now + timedelta(minutes=30), timedelta(minutes=54))
        assert store.job_runs.start_if_due("sweep", now + timedelta(minutes=60), timedelta(minutes=54))
        assert store.job_runs.last_started("sweep") == "2026-12-07T02:00:00+00:00"
    finally:
        store.close()
        lead.close()


def test_sqlite_has_one_node_that_leads_everything(store_target: StoreTarget) -> None:
    lead = open_leadership(store_target)
    if isinstance(store_target, str):
        assert isinstance(lead, Leadership)
        lead.close()
        return
    assert isinstance(lead, SingleNode) and lead.hold("sweep") and lead.hold("log:abc")
