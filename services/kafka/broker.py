"""A real single-node Apache Kafka broker (KRaft), started from Maven Central's jars.

No Docker engine runs where Touchline is developed, so the project fetches
Kafka's own jars with Maven (``deploy/kafka/pom.xml``) into a cache folder,
formats a KRaft log directory once, and runs ``kafka.Kafka`` in its own session
so it outlives the command that started it. A second ``start`` finds the
broker that is already listening instead of failing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from services.platform.settings import Settings

KAFKA_VERSION = "3.9.1"
DEPLOY = Path(str(files("services.kafka") / "deploy"))  # links to deploy/kafka (a package resource)
POM = DEPLOY / "pom.xml"
LOG4J_TEMPLATE = DEPLOY / "log4j.properties"
CLUSTER_ID = "dG91Y2hsaW5lLWxvY2Fs"  # fixed: one local cluster per data dir, formatted once


class BrokerError(RuntimeError):
    """The broker could not be fetched, formatted, started or stopped."""


@dataclass(frozen=True)
class BrokerStatus:
    """What ``touchline kafka status`` reports."""

    listening: bool
    pid: int | None
    bootstrap: str

    @property
    def managed(self) -> bool:
        """True when this data dir's pid file names a live process."""
        return self.pid is not None

    def describe(self) -> str:
        if self.listening and self.managed:
            return f"running (pid {self.pid}) at {self.bootstrap}"
        if self.listening:
            return f"a broker is listening at {self.bootstrap} (not started from this data dir)"
        if self.managed:
            return (
                f"starting or unresponsive (pid {self.pid}), nothing listening at {self.bootstrap}"
            )
        return f"stopped (nothing listening at {self.bootstrap})"


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_jars(settings: Settings) -> Path:
    """Return the folder of Kafka's jars, fetching them with Maven on first use."""
    libs = settings.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"
    if (libs / ".complete").exists():
        return libs
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is needed to fetch Kafka's jars; install it first")
    staging = libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    cmd = [
        "mvn",
        "-B",
        "-q",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging.resolve()}",
        f"-Dkafka.version={KAFKA_VERSION}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BrokerError(f"mvn failed to fetch Kafka {KAFKA_VERSION}:\n{done.stdout}{done.stderr}")
    (staging / ".complete").write_text(KAFKA_VERSION)
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


class LocalKafkaBroker:
    """The broker whose files live under ``settings.kafka_dir``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.kafka_dir.resolve()
        self.pid_file = self.dir / "broker.pid"
        self.log_file = self.dir / "broker.out"

    def status(self) -> BrokerStatus:
        s = self.settings
        return BrokerStatus(
            port_open(s.kafka_host, s.kafka_port), self._live_pid(), s.kafka_bootstrap
        )

    def start(self, timeout: float = 90.0) -> BrokerStatus:
        """Start the broker unless one already listens; wait until it accepts connections."""
        current = self.status()
        if current.listening:
            return current
        if current.managed:
            return self._wait_listening(timeout)
        libs = ensure_jars(self.settings)
        self._write_config()
        self._format(libs)
        self._spawn(libs)
        return self._wait_listening(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully (SIGTERM), escalating to SIGKILL after ``timeout`` seconds."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would: the fault model the tests exercise."""
        self._signal_and_wait(signal.SIGKILL, 10.0)

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> None:
        pid = self._live_pid()
        if pid is None:
            return
        os.killpg(pid, sig)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)

    def _live_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def _write_config(self) -> None:
        s = self.settings
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        ctrl = f"127.0.0.1:{s.kafka_controller_port}"
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{ctrl}",
            "listeners": f"PLAINTEXT://{s.kafka_host}:{s.kafka_port},CONTROLLER://{ctrl}",
            "advertised.listeners": f"PLAINTEXT://{s.kafka_host}:{s.kafka_port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.dir / "data"),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
        }
        text = "".join(f"{k}={v}\n" for k, v in lines.items())
        (self.dir / "server.properties").write_text(text)
        log4j = LOG4J_TEMPLATE.read_text().replace("@LOG_DIR@", str(self.dir))
        (self.dir / "log4j.properties").write_text(log4j)

    def _java(self, libs: Path, main: str, *args: str) -> list[str]:
        heap = self.settings.kafka_heap
        return [
            "java",
            f"-Xmx{heap}",
            f"-Xms{heap}",
            "-server",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.dir}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _format(self, libs: Path) -> None:
        cmd = self._java(
            libs,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            CLUSTER_ID,
            "-c",
            str(self.dir / "server.properties"),
            "--ignore-formatted",
        )
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrokerError(f"formatting the KRaft log dir failed:\n{done.stdout}{done.stderr}")

    def _spawn(self, libs: Path) -> None:
        cmd = self._java(libs, "kafka.Kafka", str(self.dir / "server.properties"))
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.dir,
            )
        self.pid_file.write_text(str(proc.pid))

    def _wait_listening(self, timeout: float) -> BrokerStatus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.status()
            if current.listening:
                return current
            if not current.managed:
                raise BrokerError(f"the broker exited during start-up: {self.failure()}")
            time.sleep(0.2)
        raise BrokerError(
            f"the broker did not listen at {self.settings.kafka_bootstrap} in {timeout}s "
            f"(its log: {self.dir / 'server.log'})"
        )

    def failure(self) -> str:
        """Why the broker stopped, in one line: its last error in ``server.log``, else its output.

        The JVM's own output (``broker.out``) is usually empty: log4j writes the
        cause (a port in use, a locked or unformatted log dir) to ``server.log``.
        """
        for name in ("server.log", "broker.out"):
            cause = _last_error(self.dir / name)
            if cause:
                return f"{cause} (see {self.dir / name})"
        return f"no error was logged (see {self.dir / 'server.log'} and {self.log_file})"


def _last_error(path: Path) -> str | None:
    """The newest ERROR or FATAL line of a log (with the exception it names), shortened."""
    try:
        lines = path.read_text(errors="replace").splitlines()[-400:]
    except FileNotFoundError:
        return None
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if " ERROR " in line or " FATAL " in line or line.startswith(("Error:", "Exception")):
            cause = line.split("] ", 1)[-1]
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if following and not following.startswith(("[", "\t")):
                cause += f": {following.strip()}"
            return cause[:400]
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return _not_zombie(pid)
    return reaped == 0


def _not_zombie(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
