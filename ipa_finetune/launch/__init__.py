"""A study's runs -> jobs -> Slurm: what grid-search.py and finetuning-generator.py do. jobs plans
(pure), templates renders (pure), launcher checks, writes and submits (slurm, manifest)."""
