"""The throwaway PostgreSQL cluster (mailstack/postgres.py): loopback only, a role without superuser
rights, a schema per URL, and nothing left behind when it stops."""

from __future__ import annotations

import psycopg
import pytest

from mailstack.postgres import PostgresCluster, checked_name
from mailstack.util import port_open


def test_the_session_cluster_serves_a_schema_to_an_ordinary_role(postgres_cluster: PostgresCluster) -> None:
    postgres_cluster.create_database("cluster_check")
    url = postgres_cluster.create_schema("cluster_check", "first")
    assert url == f"postgresql://mailmon@127.0.0.1:{postgres_cluster.port}/cluster_check?options=-csearch_path%3Dfirst"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('CREATE TABLE t ("user" text, "offset" integer)')  # lands in the URL's schema
        schema, user, superuser, address = conn.execute(
            "SELECT current_schema(), current_user, usesuper, host(inet_server_addr()) "
            "FROM pg_user WHERE usename = current_user"
        ).fetchone() or ()
        assert (schema, user, superuser, address) == ("first", "mailmon", False, "127.0.0.1")
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE DATABASE not_allowed")
    other = postgres_cluster.create_schema("cluster_check", "second")
    with psycopg.connect(other, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)  # each schema starts empty


def test_a_cluster_stops_and_leaves_nothing_behind() -> None:
    cluster = PostgresCluster()
    with cluster:
        root = cluster.root
        assert root is not None and (root / "data" / "postmaster.pid").exists()
        assert port_open(cluster.port)
        with psycopg.connect(cluster.create_database("gone"), autocommit=True) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("gone",)
    assert cluster.root is None and not root.exists() and not port_open(cluster.port)
    cluster.stop()  # a second stop does nothing


@pytest.mark.parametrize("name", ["", "Upper", "a-b", "x; DROP TABLE y", "1abc", "a" * 64])
def test_names_that_would_need_quoting_in_a_url_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="names here are"):
        checked_name(name)
