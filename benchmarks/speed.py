"""Speed and memory of ccre against its floors: ``python benchmarks/speed.py [--parts ...] [--quick] ...``.

A wrapper: the code, and the options, are in :mod:`ccre_study.speed`."""

import sys

from ccre_study.speed import main

if __name__ == "__main__":
    sys.exit(main())
