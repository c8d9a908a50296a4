"""Training objectives on pair embeddings ``h``, one per module, all with the same interface.

Every objective is an ``nn.Module`` with ``loss(h, targets, ids=None)`` (``h``: ``(P, D)`` pair
embeddings; ``targets``: ``(P, C)`` multi-hot, column 0 = no relation; ``ids``: instance ids) and
``scores(h)`` (``(P, C)``, higher = more likely), plus ``decide(scores)`` turning scores into a ``(P, C)``
boolean prediction. The loss functions themselves are pure functions in their modules (``supcon_loss``,
``mccl_loss``, ``adaptive_threshold_loss``); :func:`ccre.objectives.factory.build_objective` makes the
objective a config names. The package imports nothing itself, so that a stage before it (the scorers of
:mod:`ccre.inference`) can use one loss module without loading every objective.
"""
