"""Seeds: hyperparameters.seed is one seed, or a list of seeds (replicates: one run each, each with its
own run id; the report shows mean ± std over them and a bootstrap interval).

    replicate_seeds(hp)               # [1, 2, 3] for "seed": [1, 2, 3]; None for one seed
    replicate_seeds(hp, [7, 8])       # --seeds 7 8 (or finetune-exp.py's --seed 7) replace the config's
    with_seed({"learning_rate": 1e-4}, 7)   # a run's hyperparameter overrides, with its seed

finetune-exp.py runs each replicate one after the other (--seed S: only S); the transfer launcher makes
one job per replicate (`--seed S`), grid-search.py loops the seed last among the grid's values.
"""
from ..errors import ConfigError
from .schema import SEED


def check_seeds(seeds, flag):
    """Seeds given on the command line (--seed S, --seeds S ...): different integers in SEED's range."""
    for seed in seeds:
        if not SEED.ok(seed):
            raise ConfigError(f"{flag} {seed} is not valid; expected {SEED.expected}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{flag} {' '.join(map(str, seeds))}: repeats a seed; expected different "
                          "integers")
    return list(seeds)


def replicate_seeds(hyperparameters, given=None):
    """The seeds of one run each: `given` (the command line's, checked) else hyperparameters.seed when it
    is a list; None when the config has one seed and none is given (its runs keep it, unnamed)."""
    seed = hyperparameters["seed"]
    return list(given) if given else list(seed) if isinstance(seed, list) else None


def with_seed(overrides, seed):
    """Hyperparameter overrides (a dict or None) with the run's seed; a None seed changes nothing."""
    return dict(overrides or {}, **({} if seed is None else {"seed": seed}))
