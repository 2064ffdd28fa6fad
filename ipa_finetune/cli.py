"""What every top-level script shares: one-line user errors, argparse types for counts."""
import argparse
import functools
import os
import sys

from .errors import UserError


def exit_on_user_error(main):
    """Decorate a script's main(): a UserError becomes `prog: error: message` on stderr and exit 2;
    an error with `details` (errors.InputProblems) adds one indented `- problem` line per detail."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as e:
            prog = os.path.basename(sys.argv[0]) or "ipa-finetune"
            msg = " ".join(str(e).split("\n"))  # always one line
            print(f"{prog}: error: {msg}", file=sys.stderr)
            for detail in getattr(e, "details", ()):
                print("  - " + " ".join(str(detail).split("\n")), file=sys.stderr)
            sys.exit(2)

    return wrapper


def int_at_least(minimum):
    """An argparse `type`: a whole number >= minimum, else argparse's usage error naming the value."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return parse


positive_int = int_at_least(1)

