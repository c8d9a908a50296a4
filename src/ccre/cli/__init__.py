"""The ``ccre`` command line: a thin layer over the library (every command is one library call).

:mod:`ccre.cli.app` holds the app and the options commands share; each command module registers its
commands on import.
"""

from ccre.cli import (  # noqa: F401  (registration)
    bench,
    data,
    evaluate,
    memory,
    plot,
    predict,
    pretrain,
    probe,
    train,
)
from ccre.cli.app import app

__all__ = ["app"]
