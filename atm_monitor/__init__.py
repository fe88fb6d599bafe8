"""``atmsim monitor``: the operator's live view of the switch's masked transaction events.

The layout follows the data path: ``events.py`` reads one event off the bus (or says why
it cannot), ``traffic.py`` folds events into a sliding window (rates, percentiles per hop,
response-code mix, terminals, the last transactions), ``alarms.py`` judges that window.
Those three are pure: no socket, no screen, no clock of their own (``now`` is an
argument), so they are tested with fixed data. ``feed.py`` is the MQTT edge (the kernel's
bus, the monitor's read-only account) and ``app.py`` / ``widgets.py`` the Textual screen.
"""
