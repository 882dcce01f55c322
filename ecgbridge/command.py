"""The one place where a command's errors become a message and an exit code.

Shared by `ecgbridge ...` (cli.py) and the commands that also run as modules
(`python -m ecgbridge.backfill`, `python -m ecgbridge.sweeps`).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ecgbridge.errors import ConfigError, EcgBridgeError

#: Exit codes: 2 for an invalid configuration, 1 for any other EcgBridgeError.
EXIT_CONFIG = 2
EXIT_FAILED = 1


def run_reporting_errors(prog: str, func: Callable[[argparse.Namespace], int],
                         args: argparse.Namespace) -> int:
    """Run `func(args)`; an EcgBridgeError becomes one line on stderr and an exit code."""
    try:
        return int(func(args))
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except EcgBridgeError as exc:
        print(f"{prog}: {exc.reason}: {exc.message}", file=sys.stderr)
        return EXIT_FAILED


def module_main(prog: str, description: str | None,
                add_arguments: Callable[[argparse.ArgumentParser], None],
                run: Callable[[argparse.Namespace], int], argv: list[str] | None) -> int:
    """`python -m <module>`: parse `argv` with the command's own arguments and run it."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_reporting_errors(prog, run, parser.parse_args(argv))
