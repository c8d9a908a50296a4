"""Contrastive pretraining of entity-pair embeddings on entity-linked, unlabelled documents.

Pieces: :mod:`ccre.training.pretraining.inputs` (which documents: default inputs, de-duplication, exclusion),
:mod:`ccre.training.pretraining.corpus` (instances = linked entity pairs, positives across documents),
:mod:`ccre.training.pretraining.batching` (batches that hold a positive for every anchor), :mod:`ccre.training.pretraining.masking`
(MLM and entity blanking), :mod:`ccre.training.pretraining.config` (:class:`PretrainConfig`) and
:mod:`ccre.training.pretraining.trainer` (the pretraining task on the shared loop of :mod:`ccre.training.loop`). The losses live in
:mod:`ccre.objectives.mtb` and :mod:`ccre.objectives.self_contrast`.
"""
