"""ccre: continual contrastive relation extraction."""

__version__ = "0.1.0"
