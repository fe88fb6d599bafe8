"""Reusable pieces of the ATM screen: side keys and the wire panel."""
