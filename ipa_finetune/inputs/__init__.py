"""A run's inputs by content: checkpoint, tokenizer, datasets. See fingerprint.py."""
