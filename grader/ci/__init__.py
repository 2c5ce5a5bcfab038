"""Integrations with the places a course grades in: each turns the same reports into what one CI reads.

- :mod:`grader.ci.classroom50`: the ``autograder.py`` that Classroom 50 (GitHub Classroom's successor) runs
  per submission, and the ``result.json`` and ``release-body.md`` it leaves;
- :mod:`grader.ci.actions`: plain GitHub Actions (the step summary, ``::error`` annotations at the student's
  line, and a minimal ``grade.yml`` workflow);
- :mod:`grader.ci.legacy`: the retired GitHub Classroom's reporter action (kept for courses still on it);
- :mod:`grader.ci.gradescope`: the Gradescope autograder bundle;
- :mod:`grader.ci.points`: the integer points these share, so that scores add up exactly;
- :mod:`grader.ci.install`: how a bare CI machine gets the pinned CPU torch and this grader.
"""
