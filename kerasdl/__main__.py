"""`python -m kerasdl` runs the command line."""

import sys

from kerasdl_cli import main

sys.exit(main())
