"""A private, real mail stack (Postfix + Dovecot + capture sink, optionally clamd) on loopback.

Used by the pytest fixtures and the demo; not part of the installed mailmon package::

    root = Path(tempfile.mkdtemp(prefix="mailstack-"))   # under /tmp, not pytest's tmp_path
    with MailStack(root) as stack:
        ...  # run the content filter under test on stack.ports.filter
"""

from mailstack.clamd import REPORTED_NAME as CLAMD_EICAR_NAME
from mailstack.clamd import eicar
from mailstack.ports import Ports
from mailstack.sieve import ManageSieve, ManageSieveError
from mailstack.sink import SinkMessage
from mailstack.stack import CRLF_POLICY, DEFAULT_MASTER_USER, MailStack, default_users
from mailstack.util import StackError

__all__ = [
    "CLAMD_EICAR_NAME",
    "CRLF_POLICY",
    "DEFAULT_MASTER_USER",
    "MailStack",
    "ManageSieve",
    "ManageSieveError",
    "Ports",
    "SinkMessage",
    "StackError",
    "default_users",
    "eicar",
]
