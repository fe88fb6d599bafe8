"""Shipped scenario files: the certification pack (certify/<role>/), examples and the rules
files some scenarios of the pack need their target started with (rules/; docs/scenarios.md)."""

from pathlib import Path

# Rules files (docs/rules.md) that make one of our parts fail the way an opt-in scenario
# of the pack expects, e.g. rules/ledger-silent.yaml for the switch pack's 91.
RULES_DIR = Path(__file__).parent / "rules"
