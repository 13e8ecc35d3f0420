"""SQL statements shared by a migration and the code that runs them every day."""

from __future__ import annotations

from monitor.store.connection import Database


def add_login_days(db: Database) -> str:
    """The owner's (not the master user's) login events of each user and local day after the id given
    as parameter, added to login_days: the account rules read one row per active user-day. Instants
    are Unix seconds with the source address at the same position in its column, appended per batch
    in no particular order."""
    login = "CASE WHEN kind = 'login' THEN {} END"
    failed = "CASE WHEN kind = 'auth-failed' THEN {} END"
    epoch = db.epoch("time")
    # The order of each pair (instants, sources) must match: PostgreSQL is told, SQLite joins both in
    # the order it reads the group's rows.
    return f"""
INSERT INTO login_days (day, "user", logins, login_sources, failures, failure_sources, last_login, latest)
SELECT substr(time, 1, 10), "user",
       {db.string_agg(login.format(epoch), ",", "id")},
       {db.string_agg(login.format("rip"), ",", "id")},
       {db.string_agg(failed.format(epoch), ",", "id")},
       {db.string_agg(failed.format("rip"), ",", "id")},
       max(CASE WHEN kind = 'login' THEN time END), max({epoch})
FROM login_events WHERE id > ? AND master = 0 GROUP BY 1, 2
ON CONFLICT (day, "user") DO UPDATE SET
    logins = coalesce(login_days.logins || ',' || excluded.logins, login_days.logins, excluded.logins),
    login_sources = coalesce(
        login_days.login_sources || ',' || excluded.login_sources, login_days.login_sources,
        excluded.login_sources
    ),
    failures = coalesce(login_days.failures || ',' || excluded.failures, login_days.failures, excluded.failures),
    failure_sources = coalesce(
        login_days.failure_sources || ',' || excluded.failure_sources, login_days.failure_sources,
        excluded.failure_sources
    ),
    last_login = CASE WHEN excluded.last_login > coalesce(login_days.last_login, '')
                      THEN excluded.last_login ELSE login_days.last_login END,
    latest = {db.greatest("login_days.latest", "excluded.latest")}
"""  # noqa: S608 (the dialect's expressions, no input)
