"""Monitoring of the served model: the prediction log (later also feedback and live quality)."""
