"""Real signals against a real process: an interrupt waits for the end of a deferred section, and only the first
counts."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # a real process, sent real signals

SCRIPT = textwrap.dedent(
    """
    import os, signal, time
    from depthlab import interrupts
    from depthlab.errors import Terminated

    interrupts.install()
    finished = []
    try:
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler has run by now, between two bytecodes of this section
            finished.append("section")
        finished.append("after the section")
    except Terminated as err:
        print("raised:", err, "| finished:", finished)
        os.kill(os.getpid(), signal.SIGINT)  # a second interrupt, while the first unwinds
        time.sleep(0.2)
        print("unwound")
    """
)


def test_an_interrupt_waits_for_the_section_and_a_second_one_does_not_cut_the_unwinding():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["raised: terminated by SIGTERM | finished: ['section']", "unwound"]


def test_without_a_section_an_interrupt_is_raised_at_once():
    script = "import os, signal, time\nfrom depthlab import interrupts\ninterrupts.install()\n"
    script += "os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\nprint('not interrupted')\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (
        done.returncode == -signal.SIGINT
        and "KeyboardInterrupt" in done.stderr
        and "not interrupted" not in done.stdout
    )
