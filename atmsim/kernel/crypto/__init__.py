"""Card-security primitives shared by the ATM's PIN pad and the HSM: TDES with key
parity and check values, ISO 9564 PIN blocks, ISO 9797-1 MACs, and the payShield error
codes they raise."""
