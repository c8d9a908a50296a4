"""Score kept SupCon/MCCL checkpoints again with every inference mode:
``python benchmarks/investigations/rescore.py [--results ...] [--splits dev test] [--out ...]``.

A wrapper: the code, and the options, are in :mod:`ccre_study.rescore`."""

from ccre_study.rescore import main

if __name__ == "__main__":
    main()
