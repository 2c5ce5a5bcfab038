"""Running untrusted student code: a torch-preloaded server forks one limited child per job.

``client`` (trusted side) starts the server and exchanges frames with it; ``server`` forks, limits and
reaps; ``runner`` is the code that runs inside the child; ``protocol`` is the wire format (JSON header plus
an ``.npz`` of plain arrays, loaded with ``allow_pickle=False``).
"""
