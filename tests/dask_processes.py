"""A real Dask scheduler and worker processes started apart from the test, on 127.0.0.1.

Used by the batch and sweep tests to prove that runs go to a scheduler the user started
(``dask scheduler`` / ``dask worker``), not only to a ``LocalCluster`` made in-process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scheduler_and_workers(folder: Path, workers: int = 2) -> Iterator[str]:
    """Start ``dask scheduler`` and ``workers`` ``dask worker`` processes (one thread each)
    in ``folder``; yield the scheduler's address once every worker has joined, checked to
    be other processes than this one; stop them all afterwards."""
    import distributed

    scheduler_file = folder / "scheduler.json"
    log = (folder / "dask.log").open("w")
    common = {"stdout": log, "stderr": subprocess.STDOUT, "start_new_session": True,
              "cwd": folder}
    processes = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
         "--scheduler-file", str(scheduler_file)], **common)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        processes += [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
             "--nworkers", "1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
             "--host", "127.0.0.1", "--name", f"w{k}"],
            **common) for k in range(workers)]
        with distributed.Client(address, set_as_default=False, timeout="30s") as watcher:
            watcher.wait_for_workers(workers, timeout=60)
            pids = set(watcher.run(os.getpid).values())
        assert len(pids) == workers and os.getpid() not in pids
        yield address
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def group_gone(pgid: int) -> bool:
    """True when no process of the process group ``pgid`` is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False
