"""Experiments: one train -> evaluate -> record run, result records, and resumable benchmark grids with their report."""
