"""The encoder, the pair embedding built on it, the relation model and the memory of labelled instances."""
