"""Instructor tooling: building the student release and proving the checks work.

Everything here is *authoring*, run by the instructor on the course repository, never on a student's
machine during grading:

- :mod:`~grader.authoring.solutions` strips the ``# BEGIN SOLUTION`` / ``# END SOLUTION`` blocks out of a
  reference solution to make the stub a student receives;
- :mod:`~grader.authoring.public_spec` removes what students must not read (the misconception catalogues)
  from the exercise specs that are released;
- :mod:`~grader.authoring.notebook_release` builds one Jupyter notebook per exercise;
- :mod:`~grader.authoring.release` assembles the student repository (``grade release``);
- :mod:`~grader.authoring.mutants` derives wrong backwards from each solution, and
  :mod:`~grader.authoring.validate` proves the checks catch every one of them (``grade validate``).

The grading side (:mod:`grader.grading`, :mod:`grader.sandbox`, :mod:`grader.checks`, ...) imports nothing
from this package.
"""
