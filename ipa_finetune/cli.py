"""Small helpers shared by the top-level scripts (kept out of the scripts so they stay thin)."""
import functools
import os
import sys

from .errors import UserError

# The project root: the folder holding the scripts. Relative paths in configs resolve against it.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def exit_on_user_error(main):
    """Decorate a script's main(): a UserError becomes `prog: error: message` on stderr and exit 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as e:
            prog = os.path.basename(sys.argv[0]) or "ipa-finetune"
            msg = " ".join(str(e).split("\n"))  # always one line
            print(f"{prog}: error: {msg}", file=sys.stderr)
            sys.exit(2)

    return wrapper
