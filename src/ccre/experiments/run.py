"""Train -> predict -> evaluate -> record: the library call behind ``ccre train``."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ccre.config import CcreConfig
from ccre.data.datasets import (
    DATASETS,
    resolve_data_dir,
    sample_documents,
    split_documents,
    split_path,
)
from ccre.data.documents import Document
from ccre.data.formats import detect_format, read_documents
from ccre.data.formats.ids import id_style_warning, relation_styles
from ccre.errors import ConfigError
from ccre.evaluation.scoring import scheme_for_format, score_predictions
from ccre.experiments.records import result_record
from ccre.inference.predictor import PredictedRelation, Predictor
from ccre.modeling.checkpoint import is_pretrained_encoder
from ccre.modeling.prior import TypePairPrior
from ccre.modeling.relation_model import RelationModel
from ccre.training.finetune import STATE_FILE, train_model
from ccre.utils.distributed import is_main_process
from ccre.utils.io import append_jsonl
from ccre.utils.runtime import Precision, git_commit

logger = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    model: RelationModel | TypePairPrior
    train_docs: list[Document]
    test_docs: list[Document]
    predictions: list[list[PredictedRelation]]
    metrics: dict
    record: dict
    floor: dict | None = None
    """The no-text prior's metrics on the same training and test documents (``None`` for the prior itself)."""


def _log_skip(error: Exception) -> None:
    logger.warning("skipped: %s", error)


def _read_test(config: CcreConfig, path: Path, train_docs: list[Document], lenient: bool) -> list[Document]:
    """The test documents, with a warning when none of their candidate pairs has the training data's ID style."""
    docs = read_documents(path, dialect=config.data.dialect, lenient=lenient, on_skip=_log_skip)
    warning = id_style_warning(train_docs, docs)
    if warning:
        logger.warning("%s: %s", path, warning)
    return docs


def method_name(config: CcreConfig) -> str:
    """``plm+ce`` for a plain encoder; ``mtb+<objective>`` for an encoder from ``ccre pretrain``."""
    if config.objective.name == "prior":
        return "prior"
    return f"{'mtb' if is_pretrained_encoder(config.encoder.name) else 'plm'}+{config.objective.name}"


def resolve_split(config: CcreConfig, split: str, data_dir: str | Path | None) -> Path:
    explicit = {"train": config.data.train, "test": config.data.test, "dev": config.data.dev}[split]
    if explicit:
        return Path(explicit)
    if config.data.dataset is None:
        raise ConfigError(f"give a {split} file (--{split}) or a dataset (--dataset)")
    return split_path(config.data.dataset, split, resolve_data_dir(data_dir))


def load_split(config: CcreConfig, split: str, data_dir: str | Path | None, lenient: bool = False) -> list[Document]:
    """The documents of a split: an explicit file's, or the data set's (:func:`ccre.data.datasets.split_documents`:
    a held-out dev split and the training pool it leaves)."""
    explicit = {"train": config.data.train, "test": config.data.test, "dev": config.data.dev}[split]
    if explicit or config.data.dataset is None:
        return read_documents(resolve_split(config, split, data_dir), dialect=config.data.dialect, lenient=lenient,
                              on_skip=_log_skip)
    return split_documents(config.data.dataset, split, resolve_data_dir(data_dir), lenient=lenient,
                           on_skip=_log_skip)


def load_dev(config: CcreConfig, data_dir: str | Path | None, lenient: bool = False) -> list[Document] | None:
    """The dev documents, or ``None`` when there is no dev split (a training file of the user's own, no --dev)."""
    if config.data.dev is None and (config.data.dataset is None or "dev" not in DATASETS[config.data.dataset]):
        return None
    return load_split(config, "dev", data_dir, lenient)


def select_training_documents(config: CcreConfig, docs: Sequence[Document]) -> list[Document]:
    """The seeded low-resource subset (nested across sizes for one seed), or all documents."""
    if config.data.train_docs is None and config.data.train_fraction is None:
        return list(docs)
    try:
        return sample_documents(
            docs, n=config.data.train_docs, fraction=config.data.train_fraction, seed=config.train.seed
        )
    except ValueError as exc:
        raise ConfigError(f"training subset: {exc}") from None


def decision_margin(model: RelationModel) -> dict[str, float]:
    """``{"na_margin": m}`` when the model's multi-label decisions used a no-relation margin (calibrated or
    zero, :mod:`ccre.inference.decision`), so that the result line records the cut-off behind its figures."""
    decision = getattr(model.objective, "decision", None)
    margin = None if decision is None else decision.margin
    return {} if margin is None else {"na_margin": round(float(margin), 6)}


def _warn_without_dev(config: CcreConfig) -> None:
    """What is not chosen when a run has no dev documents (settings that choose on dev then do nothing)."""
    unchosen = [what for what, on in (("the no-relation cut-off (train.na_threshold_on_dev)",
                                       config.train.na_threshold_on_dev and config.objective.name == "ce"),
                                      ("the weights (train.eval_every)", config.train.eval_every is not None)) if on]
    if unchosen:
        logger.warning("no dev documents (give --dev FILE): %s not chosen on dev; the last weights and the "
                       "plain decision are kept", " and ".join(unchosen))


def train_and_evaluate(
    config: CcreConfig,
    *,
    data_dir: str | Path | None = None,
    output: str | Path | None = None,
    results: str | Path | None = None,
    device: str | None = None,
    precision: Precision = "auto",
    show_progress: bool = True,
    lenient: bool = False,
    resume: bool = False,
) -> RunOutcome | None:
    """Train on the configured training subset, save the checkpoint, evaluate on the test split and
    append one result line to ``results`` (when given). Under ``accelerate launch`` only the main process
    does all after training; the others return ``None``."""
    if resume and output is None:
        raise ConfigError("--resume needs the --output directory of the interrupted run")
    started = time.perf_counter()
    commit = git_commit(exclude=[Path(results).parent] if results is not None else [])  # lines it appended: clean
    train_path = resolve_split(config, "train", data_dir)
    test_path = resolve_split(config, "test", data_dir)
    train_docs = select_training_documents(config, load_split(config, "train", data_dir, lenient))
    run = {"config": config.model_dump(), "train_documents": [d.id for d in train_docs], "train_file": str(train_path),
           "commit": commit, "train_id_styles": sorted(relation_styles(train_docs))}
    dev_docs = load_dev(config, data_dir, lenient)
    if dev_docs is None:
        _warn_without_dev(config)
    if config.objective.name == "prior":
        return _prior_run(config, train_docs, dev_docs, train_path, test_path, output, results, run, started, lenient)
    model = train_model(
        config, train_docs, device=device, precision=precision, show_progress=show_progress, state_dir=output,
        resume=resume, dev=dev_docs,
    )
    if not is_main_process():  # under `accelerate launch` the main process saves, evaluates and reports
        return None
    selected = model.selection or {}  # what dev chose
    if output is not None:
        model.save_pretrained(output, run={**run, **selected})
        (Path(output) / STATE_FILE).unlink(missing_ok=True)  # the checkpoint supersedes the training state
    test_docs = _read_test(config, test_path, train_docs, lenient)
    predictions = Predictor(model).predict(test_docs, show_progress=show_progress)
    scheme = scheme_for_format(detect_format(test_path))
    metrics = score_predictions(test_docs, predictions, scheme, train=train_docs)
    floor_model = TypePairPrior.fit(train_docs, select=dev_docs)
    floor = score_predictions(test_docs, floor_model.predict(test_docs), scheme, train=train_docs)
    record = result_record(
        dataset=config.data.dataset or str(train_path),
        train_docs=len(train_docs),
        method=method_name(config),
        encoder=config.encoder.name,
        seed=config.train.seed,
        metrics=metrics,
        wall_s=time.perf_counter() - started,
        config=config.model_dump(),
        commit=commit,
        precision=model.resolved_precision,
        prior_metrics=floor,
        **selected,
        **decision_margin(model),
    )
    if results is not None:
        append_jsonl(results, record)
    return RunOutcome(model, train_docs, test_docs, predictions, metrics, record, floor)


def _prior_run(config: CcreConfig, train_docs: list[Document], dev_docs: list[Document] | None, train_path: Path,
               test_path: Path, output: str | Path | None, results: str | Path | None, run: dict, started: float,
               lenient: bool) -> RunOutcome:
    """The no-text prior (:class:`ccre.modeling.prior.TypePairPrior`), its threshold chosen on the dev documents
    (the training documents where there is no dev split), evaluated and recorded like a trained model."""
    prior = TypePairPrior.fit(train_docs, select=dev_docs)
    if output is not None:
        prior.save_pretrained(output, run=run)
    test_docs = _read_test(config, test_path, train_docs, lenient)
    predictions = prior.predict(test_docs)
    metrics = score_predictions(test_docs, predictions, scheme_for_format(detect_format(test_path)), train=train_docs)
    record = result_record(
        dataset=config.data.dataset or str(train_path), train_docs=len(train_docs), method="prior",
        encoder="none", seed=config.train.seed, metrics=metrics, wall_s=time.perf_counter() - started,
        config=config.model_dump(), commit=run["commit"], prior_threshold=round(prior.threshold, 6),
        prior_selected_on="train" if dev_docs is None else "dev",
    )
    if results is not None:
        append_jsonl(results, record)
    return RunOutcome(prior, train_docs, test_docs, predictions, metrics, record)
