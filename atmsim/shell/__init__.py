"""The shell: the ``atmsim`` command line and what composes the components into a running
system (settings, the stack, the embedded broker, provisioning, logging, the load
generator). Nothing below the shell imports it."""
