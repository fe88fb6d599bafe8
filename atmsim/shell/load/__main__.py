"""``python -m atmsim.shell.load``: the load generator without the ``atmsim`` front command."""

import sys

from atmsim.shell.load.command import main

sys.exit(main())
