"""atmsim: the shell (:mod:`atmsim.shell`: the command line and the composition of the
parts) and the kernel every part shares (:mod:`atmsim.kernel`)."""
