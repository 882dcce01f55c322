"""`python -m ecgbridge.sweeps`: the sweep command without the rest of the CLI."""
import sys

from ecgbridge.sweeps.cmd import main

sys.exit(main())
