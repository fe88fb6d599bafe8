"""Scenario files: the model (model.py), values, links, runner and report (docs/scenarios.md)."""
