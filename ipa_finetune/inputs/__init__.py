"""A run's inputs (checkpoint, tokenizer, datasets): where each split is (splits), what they are by
content (hashing, fingerprint), whether they can run (preflight, diagnose), the tokenizer (tokenizer)."""
