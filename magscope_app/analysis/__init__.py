"""Offline science: force calibration, worm-like-chain fits, drift, re-tracking."""
