"""Documents, relation labels, the data sets ccre knows and the corpus formats (the first pipeline stage)."""
