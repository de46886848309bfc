"""`python -m gateway` is `loyalty-gateway serve`."""

import sys

from gateway.cli import main

sys.exit(main(["serve"]))
