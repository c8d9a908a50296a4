"""Relation-extraction metrics as pure functions over in-memory documents (no file I/O), and scoring.

* :func:`ccre.evaluation.scoring.biored.biored_scores`: BioRED micro P/R/F1 at the pair, type and novelty levels.
* :func:`ccre.evaluation.scoring.docred.docred_scores`: the official DocRED scorer (F1 and Ign F1)."""
