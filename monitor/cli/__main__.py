"""`python -m monitor.cli`: the same as the `mailmon` command."""

import sys

from monitor.cli import main

sys.exit(main())
