"""Finetuning a relation model (:mod:`.finetune`) and contrastive pretraining of its encoder (:mod:`.pretraining`)."""
