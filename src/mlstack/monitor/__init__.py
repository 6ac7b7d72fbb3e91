"""Monitoring: the prediction log, and drift checks against the champion's training snapshot."""
