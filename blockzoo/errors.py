"""User-facing errors: one clear line saying what was wrong and what to do."""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable


class BlockzooError(Exception):
    """An error the user caused (bad name, bad setting, no network, corrupt file).

    The message is a single line: what was wrong, then what to do about it.
    Command-line entry points print it without a traceback.
    """


def cli_errors(main: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a CLI main(): BlockzooError -> 'error: <message>' on stderr, exit code 2; Ctrl-C -> one line, 130."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs) or 0
        except BlockzooError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("error: interrupted; outputs already written are complete, nothing half-written was kept",
                  file=sys.stderr)
            return 130
        except BrokenPipeError:  # the reader of our output went away (`| head`): nothing more to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0

    return wrapper
