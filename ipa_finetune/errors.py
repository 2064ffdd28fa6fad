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
