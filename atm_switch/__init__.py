"""atm_switch"""
