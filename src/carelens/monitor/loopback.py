"""A real Spark cluster on this machine's loopback, for tests and benchmarks: a standalone cluster (a
master and workers, each its own JVM, started with the ``spark-class`` launcher that the ``pyspark``
package ships).

Every process is started in its own process group on 127.0.0.1 with ports chosen at run time, and
:meth:`LoopbackCluster.stop` (also on leaving a ``with`` block, whatever happens) kills those groups,
executors and Python workers included. The processes run with this process's environment (so executors
import the same carelens) and this Python interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class ClusterError(RuntimeError):
    """A cluster could not be started (no Java, no pyspark, or a process did not come up in time)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def java_binary() -> str | None:
    """The ``java`` Spark will run: ``$JAVA_HOME/bin/java`` when set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def spark_home() -> Path:
    """The Spark distribution inside the installed ``pyspark`` package (``bin/spark-class``, ``jars/``)."""
    try:
        import pyspark
    except ImportError as exc:
        raise ClusterError("pyspark is not installed (pip install 'carelens[spark]')") from exc
    return Path(pyspark.__file__).resolve().parent


@dataclass
class LoopbackCluster:
    """A standalone Spark cluster on loopback: one master and ``workers`` workers of ``cores`` cores and
    ``memory`` each. ``folder`` holds the logs and the workers' scratch space."""

    folder: Path
    workers: int = 2
    cores: int = 1
    memory: str = "1g"
    timeout: float = 120.0
    """Seconds to wait for the master and every worker to be up."""
    master_url: str = ""
    web_url: str = ""
    processes: list[subprocess.Popen] = field(default_factory=list)

    def __enter__(self) -> LoopbackCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        home = spark_home()
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(home),
            SPARK_LOCAL_IP="127.0.0.1",
            PYSPARK_PYTHON=sys.executable,
            SPARK_LOG_DIR=str(self.folder / "logs"),
        )
        env.pop("SPARK_CONF_DIR", None)
        return env

    def _launch(self, name: str, *args: str) -> subprocess.Popen:
        if java_binary() is None:
            raise ClusterError(
                "Java is not installed (Spark needs Java 17: apt-get install openjdk-17-jre-headless)"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{name}.log", "wb") as log:  # the process keeps its own copy
            process = subprocess.Popen(
                [str(spark_home() / "bin" / "spark-class"), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                cwd=self.folder,
                start_new_session=True,  # its own process group: stop() kills it and all it started
            )
        self.processes.append(process)
        return process

    def start(self) -> None:
        port, web = free_port(), free_port()
        self.master_url = f"spark://127.0.0.1:{port}"
        self.web_url = f"http://127.0.0.1:{web}/json/"
        self._launch(
            "master", MASTER_CLASS, "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(web)
        )
        self._wait(lambda state: state.get("status") == "ALIVE", "the master")
        for i in range(self.workers):
            work = self.folder / f"worker-{i}"
            self._launch(
                f"worker-{i}",
                WORKER_CLASS,
                *("--host", "127.0.0.1", "--port", str(free_port()), "--webui-port", str(free_port())),
                *("--cores", str(self.cores), "--memory", self.memory, "--work-dir", str(work)),
                self.master_url,
            )
        self._wait(lambda state: state.get("aliveworkers", 0) >= self.workers, f"{self.workers} worker(s)")

    def state(self) -> dict:
        """The master's state (its web UI's JSON), or {} when it does not answer."""
        try:
            with urllib.request.urlopen(self.web_url, timeout=2) as answer:
                return json.loads(answer.read())
        except (OSError, ValueError):
            return {}

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if ready(self.state()):
                return
            for process in self.processes:
                if process.poll() is not None:
                    raise ClusterError(f"a Spark process exited with {process.returncode}: {self.log_tail()}")
            time.sleep(0.5)
        raise ClusterError(f"{what} not up within {self.timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        tails = []
        for path in sorted(self.folder.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            tails.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(tails)

    def stop(self) -> None:
        """Kill every process group started, politely first; waits until they have gone."""
        stop_groups(self.processes)
        self.processes.clear()


@contextmanager
def stopped_on_termination() -> Iterator[None]:
    """While active (in the main thread), SIGTERM raises SystemExit, so ``finally`` blocks and ``with``
    exits run and a cluster is stopped: Python's default is to end at once, leaving the cluster's own
    process groups running. The previous handler is restored on leaving."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_groups(processes: list[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM each process's group, then SIGKILL whatever is left after ``grace`` seconds."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pass
    for process in processes:
        _signal_group(process, signal.SIGKILL)  # the group's children too, even if the leader has gone
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            pass


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
