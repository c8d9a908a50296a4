"""Write benchmarks/REPORT.md from the result lines: ``python benchmarks/report.py [options]``.

A wrapper: the code, and the options, are in :mod:`ccre_study.report`."""

from ccre_study.report import main

if __name__ == "__main__":
    main()
