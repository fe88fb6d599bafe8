"""The kernel every component shares, and which imports none of them.

* :mod:`atmsim.kernel.wire` - ISO 8583 on the wire: the field table, the ``default``
  profile (pyiso8583 and the direct fast path), framing, fields 48 and 54;
* :mod:`atmsim.kernel.response_codes` - field 39 and the families of its codes;
* :mod:`atmsim.kernel.crypto` - TDES, PIN blocks and MACs, as the ATM's PIN pad and the
  HSM both use them, and the payShield error codes they raise;
* :mod:`atmsim.kernel.bus` and its MQTT clients (:mod:`~atmsim.kernel.mqtt`, the lean one;
  :mod:`~atmsim.kernel.mqtt_aiomqtt`) - request / serve / publish between the parts;
* :mod:`atmsim.kernel.masking` - what a log or a screen may show of a PAN, a name, a URL;
* :mod:`atmsim.kernel.demo_data` - the public demo cards, participants, terminals, keys;
* :mod:`atmsim.kernel.rules` - the rule engine behind ``--rules FILE`` (switch, HSM, ledger);
* :mod:`atmsim.kernel.faults` - seeded fault schedules for ``atmsim drill``.
"""
