"""Everything ipa_finetune.prepare takes from the rest of ipa_finetune, in one place: the other modules
of this folder import these names from here, so a reorganisation of the package is re-pointed here.
"""
from ..cli import PROJECT_ROOT  # noqa: F401
from ..config_loader import add_config_arguments, config_from_args, dataset_spec, display_path  # noqa: F401
from ..config_loader import load_database  # noqa: F401
from ..config_schema import did_you_mean, show  # noqa: F401
from ..errors import ConfigError, DataError, UserError  # noqa: F401


def entry_spec(cfg, language, name):
    """The DatasetSpec of the database entry `name` of `language` under the config's task (which need
    not be the dataset the config picks for that language)."""
    return dataset_spec(dict(cfg, languages={**cfg["languages"], language: name}), language)
