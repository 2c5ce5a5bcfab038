"""The terminal report in a real pseudo-terminal: it follows the window's width and no line is wider."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest
from conftest import Grade
from helpers import ROOT, SUBMISSIONS
from rich.cells import cell_len

from grader.writers import terminal

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _in_terminal(columns: int, *args: str) -> str:
    """Run ``grade ARGS`` with a pseudo-terminal of ``columns`` × 40 as its stdin, stdout and stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([sys.executable, "-m", "grader", *args], stdin=slave, stdout=slave, stderr=slave,
                               cwd=ROOT, env={**env, "TERM": "xterm-256color"}, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=120)
    os.close(master)
    return ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r", "")


@pytest.mark.parametrize("columns", [80, 60])
def test_the_report_fits_the_terminal(columns: int) -> None:
    text = _in_terminal(columns, "ex04", "--submission", str(SUBMISSIONS / "linear_bias_not_summed"))
    lines = text.splitlines()
    assert "broadcast_not_reduced" in text and "Score: 7.33333 / 9" in text
    assert max(cell_len(line) for line in lines) <= columns, "\n".join(lines)
    assert max(cell_len(line) for line in lines) >= columns - 2  # it uses the width it has


def test_a_pipe_gets_a_fixed_width_and_columns_overrides(grade: Grade, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert terminal.width(io.StringIO()) == terminal.FIXED_WIDTH
    monkeypatch.setenv("COLUMNS", "72")
    assert terminal.width(io.StringIO()) == 72
    out = io.StringIO()
    terminal.write([grade("linear_bias_not_summed")], out, color=False)
    assert max(cell_len(line) for line in out.getvalue().splitlines()) == 72


def test_each_mistake_is_explained_once_for_all_the_inputs_it_hit(grade: Grade) -> None:
    out = io.StringIO()
    terminal.write([grade("linear_autograd_grad")], out, color=False, columns=80)
    text = out.getvalue()
    assert text.count("forbidden_api  [") == 1 and "x, weight, bias: forbidden_api" in text
    assert text.count("torch.autograd.grad asks autograd") == 1
