"""Errors a user can fix. Scripts print them as one line and exit non-zero, without a traceback."""


class UserError(Exception):
    """Bad input: a config, a dataset, a checkpoint, a CLI value. The message names the file, key,
    value and what would be valid; it must be a single line."""


class ConfigError(UserError):
    """A config file or the language database is malformed or inconsistent."""


class CheckpointError(UserError):
    """A nanoGPT checkpoint is missing, unreadable or does not match the model."""


class DataError(UserError):
    """A dataset, split, column or label is missing or invalid."""


class InputProblems(UserError):
    """Several problems found at once (a launch's pre-flight check): one line each. The message is
    the first line (`3 problems; nothing was written or submitted:`), `details` the problems;
    cli.exit_on_user_error prints each on its own line. A single problem is just that line."""

    def __init__(self, problems, consequence):
        self.details = list(problems) if len(problems) > 1 else []
        head = f"{len(problems)} problems; {consequence}:" if self.details else problems[0]
        super().__init__(head)


def one_line(text, limit=300):
    """`text` (often an exception's message) on one line of at most `limit` characters ("..." where cut)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
