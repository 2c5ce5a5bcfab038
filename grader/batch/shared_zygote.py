"""Imported by the fork server of ``grade batch --dask local`` (:data:`grader.batch.local_cluster.PRELOAD`):
start the sandbox zygote there.

The fork server forks every worker of the local cluster, so each inherits the zygote's socket, and all their
sandbox servers are forks of this one zygote (:mod:`grader.sandbox.spawn`): the machine imports torch once for
the whole cluster, as ``--jobs`` does, and the import runs while the cluster starts.
"""

from grader.sandbox.spawn import prestart

prestart()
