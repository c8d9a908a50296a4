"""Trained model + documents -> predicted relations: decisions, calibrated thresholds, the predictor, streaming."""
