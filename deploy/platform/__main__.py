"""``python -m deploy.platform up|down|status|install``: see ``deploy.platform.cli``."""

from __future__ import annotations

import logging
import sys

from deploy.platform.cli import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Connection refusals while Kafka starts are expected; aiokafka would log each one.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    sys.exit(main())
