"""Run a tiny pretraining on the synthetic corpus (a script, so that ``accelerate launch`` can start it).

usage: python pretrain_run.py OUTPUT [--steps N] [--resume]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import transformers  # noqa: E402
from pretrain_helpers import tiny_corpus  # noqa: E402

from ccre.training.pretraining.config import PretrainConfig  # noqa: E402
from ccre.training.pretraining.trainer import Pretrainer  # noqa: E402

TINY = {"max_steps": 2, "batch_size": 4, "encoder.max_length": 24, "encoder.window_overlap": 4, "checkpoint_every": 1,
        "seed": 3}

if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--steps", type=int, default=TINY["max_steps"])
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    cfg = PretrainConfig().with_overrides({**TINY, "max_steps": args.steps, "encoder.dropout": 0.0, "encoder_dropout": 0.0,
                                           "blank_prob": 0.5, "mlm_prob": 0.3})
    Pretrainer(cfg, tiny_corpus(), args.output, cpu=True, show_progress=False).run(resume=args.resume)
