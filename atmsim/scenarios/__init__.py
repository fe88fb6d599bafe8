"""Shipped scenario files: the certification pack (certify/<role>/) and examples
(docs/scenarios.md)."""
