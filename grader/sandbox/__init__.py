"""Running untrusted student code: a torch-preloaded server forks one limited child per job.

``client`` (trusted side) starts the server and exchanges frames with it over ``channel`` (a socket whose
frames can carry file descriptors); ``server`` forks, limits and reaps; ``runner`` is the code that runs
inside the child; ``protocol`` is the wire format (JSON header plus the raw bytes of plain numeric arrays, never
unpickled); ``segment`` carries arrays of 64 KiB and more in shared memory passed by descriptor,
checked (key, dtype, shape, bounds) and copied out before the grader uses them.
"""
