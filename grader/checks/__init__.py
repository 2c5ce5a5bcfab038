"""The checks, each a small class that turns one case's observation into rows.

:data:`CHECKS` is the order rows appear in for each case. Checks read the numbers the sandboxed child sent
back and the reference computed here; none of them ever touches student code.
"""

from __future__ import annotations

from grader.checks.autograd import AutogradCheck
from grader.checks.base import Check, Context
from grader.checks.contract import ContractCheck
from grader.checks.forward import ForwardCheck
from grader.checks.gradcheck import GradcheckCheck
from grader.checks.policy import PolicyCheck

CHECKS: tuple[Check, ...] = (ForwardCheck(), PolicyCheck(), ContractCheck(), AutogradCheck(), GradcheckCheck())

__all__ = ["CHECKS", "Check", "Context"]
