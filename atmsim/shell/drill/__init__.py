"""``atmsim drill``: a fault schedule (``atmsim.kernel.faults``) carried out on a stack of
its own under ``atmsim load``, and what it did to the answers.

``proxy`` holds the fault proxies that sit on each hop, ``topology`` the stack wired through
them and the schedule's execution, ``report`` the pure reading of the outcomes per fault.
"""
