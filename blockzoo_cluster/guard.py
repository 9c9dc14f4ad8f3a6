"""python -m blockzoo_cluster.guard PARENT_PID COMMAND...: run COMMAND, and end all of it when PARENT dies.

A Ray worker that is killed (its node lost, the OOM killer) cannot stop what it started, and a process
started by a process that died lives on. The guard, a child of the worker, asks the kernel for SIGTERM
when its parent dies and then kills COMMAND's whole process group (dvc, the shell, the stage's python),
so a cell never runs on, unseen, beside its retry.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    parent, command = int(argv[0]), argv[1:]
    children: list[subprocess.Popen] = []

    def stop(signum, _frame):
        for child in children:
            os.killpg(child.pid, signal.SIGKILL)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request was made
        return 1
    deaths = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, deaths)  # no death between starting the child and knowing it
    children.append(subprocess.Popen(command, start_new_session=True,
                                     preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, deaths)))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, deaths)
    return children[0].wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
