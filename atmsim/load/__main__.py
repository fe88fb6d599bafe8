"""``python -m atmsim.load``: the load generator without the ``atmsim`` front command."""

import sys

from atmsim.load.command import main

sys.exit(main())
