"""One run, config -> data -> Trainer -> results: what finetune-exp.py does. experiment plans it
without heavy imports; pipeline runs it (data, labels, trainer, metrics, results)."""
