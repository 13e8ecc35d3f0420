"""A few months of mailbox activity for the demo: the directory, and past Dovecot log lines.

Written relative to today, so the demo always shows the same picture: one box unused for four
months (suspend due), a unit box read once a working day (short of its two checks), a departed
official whose box is still open, and normal use.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from demo.traffic import DOMAIN, HOANT, KETOAN, VANPHONG
from monitor.mailboxes.calendar import Calendar

DUNGLV = f"dunglv.stttt@{DOMAIN}"  # has not logged in for four months
MINHLV = f"minhlv.vp.stttt@{DOMAIN}"  # retired last month, box still open

UNITS = f"""unit,name,parent,it_contact
stttt,Sở Thông tin và Truyền thông,,postmaster@{DOMAIN}
vp.stttt,Văn phòng Sở,stttt,postmaster@{DOMAIN};{HOANT}
"""


def mailboxes_csv(today: date) -> str:
    long_ago = (today - timedelta(days=400)).isoformat()
    recent_pw = (today - timedelta(days=20)).isoformat()
    old_pw = (today - timedelta(days=150)).isoformat()
    return (
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n"
        f"{HOANT},Nguyễn Thị Hoa,stttt,personal,active,{long_ago},{recent_pw},1024\n"
        f"{VANPHONG},Văn phòng Sở,vp.stttt,unit,active,{long_ago},{recent_pw},2048\n"
        f"{KETOAN},Phòng Kế toán,stttt,unit,active,{long_ago},{old_pw},1024\n"
        f"{DUNGLV},Lê Văn Dũng,stttt,personal,active,{long_ago},{old_pw},1024\n"
        f"{MINHLV},Lê Văn Minh,vp.stttt,personal,departed,{long_ago},{old_pw},1024\n"
    )


def _line(when: datetime, user: str, ip: str, n: int) -> str:
    session = f"demo{n:012d}"
    return (
        f"{when:%Y-%m-%d %H:%M:%S} imap-login: Info: Login: user=<{user}>, method=PLAIN, rip={ip}, "
        f"lip=10.0.0.2, mpid={1000 + n}, TLS, session=<{session}>, orig_user=<{user}>\n"
    )


def past_log(today: date) -> str:
    """Logins over the last 130 days, in Dovecot's file format."""
    cal = Calendar()
    lines: list[str] = []
    n = 0
    for day in cal.working_days(today - timedelta(days=130), today - timedelta(days=1)):
        base = datetime(day.year, day.month, day.day)
        lines.append(_line(base + timedelta(hours=8, minutes=5), HOANT, "10.20.1.15", n := n + 1))
        lines.append(_line(base + timedelta(hours=8, minutes=30), VANPHONG, "10.20.1.20", n := n + 1))  # once a day
        lines.append(_line(base + timedelta(hours=8), KETOAN, "10.20.1.30", n := n + 1))
        lines.append(_line(base + timedelta(hours=14), KETOAN, "10.20.1.30", n := n + 1))
        if (today - day).days > 125:
            lines.append(_line(base + timedelta(hours=9), DUNGLV, "10.20.1.40", n := n + 1))
    return "".join(lines)


def write(directory: Path, today: date) -> tuple[Path, Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    units = directory / "units.csv"
    boxes = directory / "mailboxes.csv"
    log = directory / "dovecot-past.log"
    units.write_text(UNITS, encoding="utf-8")
    boxes.write_text(mailboxes_csv(today), encoding="utf-8")
    log.write_text(past_log(today), encoding="utf-8")
    return units, boxes, log
