"""A private PostgreSQL cluster that a test may stop, kill and restart.

The shared server on 127.0.0.1:5432 serves every test run on the machine, so outage tests never
touch it: they get a cluster of their own (``initdb`` in a temporary directory, trust auth, a
free port on 127.0.0.1, its socket in that directory). ``initdb`` and ``postgres`` refuse to run
as root: as root the binaries run as the ``postgres`` OS user (``runuser``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_BIN_DIRS = ("/usr/local/bin", *sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin")))[::-1])


class ClusterUnavailable(Exception):
    """A private cluster can not be made here (no binaries, no unprivileged user, initdb failed)."""


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for directory in _BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file():
            return str(candidate)
    raise ClusterUnavailable(f"'{name}' is not installed (looked in PATH and {_BIN_DIRS})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PrivateCluster:
    """One ``initdb``-made cluster; :meth:`start`, :meth:`stop`, :meth:`restart` drive it."""

    root: Path
    port: int
    run_as: str | None  # OS user the server runs as (None: the current user)
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "server.log"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def create(cls) -> PrivateCluster:
        run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ClusterUnavailable("running as root and no 'postgres' OS user") from exc
            run_as = "postgres"
        root = Path(tempfile.mkdtemp(prefix="ruvon-pg-"))
        cluster = cls(root=root, port=_free_port(), run_as=run_as)
        if run_as is not None:
            shutil.chown(root, user=run_as)
        initdb = [_binary("initdb"), "-D", str(cluster.data), "-U", "postgres", "-A", "trust"]
        try:
            cluster._run([*initdb, "--no-sync", "-E", "UTF8"], timeout=120)
        except ClusterUnavailable:
            cluster.remove()
            raise
        return cluster

    def _run(self, argv: list[str], *, timeout: float) -> None:
        if self.run_as is not None:
            argv = [_binary("runuser"), "-u", self.run_as, "--", *argv]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClusterUnavailable(f"{argv[0]} failed: {exc}") from exc
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip()[-2000:]
            raise ClusterUnavailable(f"{' '.join(argv)} exited {done.returncode}: {tail}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        argv = [_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options]
        self._run([*argv, "-w", "-t", "60", "start"], timeout=90)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clients disconnected, clean shutdown) or ``immediate``
        (the server processes quit at once, crash recovery on the next start)."""
        pg_ctl = _binary("pg_ctl")
        self._run([pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"], timeout=90)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def _pids(self) -> list[int]:
        """The postmaster and its children (backends, background workers)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        pids = [postmaster]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process is gone
                continue
            if int(fields[1]) == postmaster:
                pids.append(int(stat.parent.name))
        return pids

    def freeze(self) -> None:
        """Stop every server process (SIGSTOP): connections stay open but nothing answers,
        like a server behind a network partition."""
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGCONT)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.running():
            with contextlib.suppress(ClusterUnavailable):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
