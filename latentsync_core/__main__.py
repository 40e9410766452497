"""``python -m latentsync_core``: the command line (see :mod:`latentsync_core.cli`)."""
import sys

from .cli import main

sys.exit(main())
