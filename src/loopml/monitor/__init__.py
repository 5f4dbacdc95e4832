"""Monitoring: reference statistics kept with each model version, drift and performance checks."""
