"""terminal_ui"""
