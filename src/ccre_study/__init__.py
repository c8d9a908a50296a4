"""The study's own code (not part of the library): checking the paper's claims against the benchmark results."""
