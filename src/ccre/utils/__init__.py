"""Infrastructure every stage uses: atomic file writes, progress bars, devices and provenance, data parallelism."""
