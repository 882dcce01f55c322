"""`python -m ecgbridge` is the `ecgbridge` command."""
import sys

from ecgbridge.cli import main

sys.exit(main())
