"""SQL statements shared by a migration and the code that runs them every day."""

from __future__ import annotations

# The owner's (not the master user's) login events of each user and local day, kept at ingest so the
# account rules read one row per active user-day: instants as Unix seconds with the source address
# at the same position in its column, appended per batch in no particular order.
ADD_LOGIN_DAYS = """
INSERT INTO login_days (day, user, logins, login_sources, failures, failure_sources, last_login, latest)
SELECT substr(time, 1, 10), user,
       group_concat(CASE WHEN kind = 'login' THEN unixepoch(time) END),
       group_concat(CASE WHEN kind = 'login' THEN rip END),
       group_concat(CASE WHEN kind = 'auth-failed' THEN unixepoch(time) END),
       group_concat(CASE WHEN kind = 'auth-failed' THEN rip END),
       max(CASE WHEN kind = 'login' THEN time END), max(unixepoch(time))
FROM login_events WHERE id > ? AND master = 0 GROUP BY 1, 2
ON CONFLICT (day, user) DO UPDATE SET
    logins = coalesce(logins || ',' || excluded.logins, logins, excluded.logins),
    login_sources = coalesce(login_sources || ',' || excluded.login_sources, login_sources, excluded.login_sources),
    failures = coalesce(failures || ',' || excluded.failures, failures, excluded.failures),
    failure_sources = coalesce(
        failure_sources || ',' || excluded.failure_sources, failure_sources, excluded.failure_sources
    ),
    last_login = CASE WHEN excluded.last_login > coalesce(last_login, '')
                      THEN excluded.last_login ELSE last_login END,
    latest = max(latest, excluded.latest)
"""
INSERT_LOGIN_EVENT = (
    "INSERT OR IGNORE INTO login_events (time, user, protocol, kind, attempts, rip, session, master) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
