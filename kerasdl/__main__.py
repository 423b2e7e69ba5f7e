"""`python -m kerasdl` runs the command line."""

import sys

from kerasdl.cli import main

sys.exit(main())
