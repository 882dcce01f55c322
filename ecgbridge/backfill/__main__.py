"""`python -m ecgbridge.backfill`: the backfill command without the rest of the CLI."""
import sys

from ecgbridge.backfill.cmd import main

sys.exit(main())
