"""``grade batch``: grade a whole class through a pool of sandbox servers, then write every class-level file.

The flow, one module per step:

1. :mod:`~grader.batch.layouts` finds the students in an LMS download (GitHub Classroom, Canvas,
   Gradescope, or one entry per student) and :mod:`~grader.batch.roster` adds their LMS ids;
2. :mod:`~grader.batch.runner` grades them in parallel, one sandbox server per worker, and writes each
   student's :mod:`~grader.batch.record` as soon as it is finished, skipping students whose inputs are
   unchanged (:mod:`~grader.batch.state`); with ``--dask``, :mod:`~grader.batch.cluster` sends them to the
   workers of a Dask cluster instead (:mod:`~grader.batch.worker` is what runs there) and writes the same files;
3. :mod:`~grader.batch.outputs` rebuilds the gradebook, the LMS files and the class summary from the
   stored records, so an interrupted run that is re-run writes exactly the same files.

:mod:`~grader.batch.command` is the thin click command. Importing this package imports nothing heavy.
"""

LMS_NAMES = ("gradescope", "canvas", "moodle", "blackboard", "lti", "junit", "classroom")
"""The ``--lms`` formats (shared FORMATS.md), each written by :func:`grader.batch.outputs.lms_writer`."""
