"""``python -m ffviz``: see ffviz/cli.py."""

import sys

from ffviz.cli import main

sys.exit(main())
