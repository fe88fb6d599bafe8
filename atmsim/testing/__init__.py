"""atmsim for other people's test suites: the pytest plugin (:mod:`atmsim.testing.plugin`,
loaded by pytest through the ``pytest11`` entry point) and the harness behind its fixtures
(:mod:`atmsim.testing.harness`), usable without pytest too."""
