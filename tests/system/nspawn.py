"""A Debian root file system booted with a real systemd as PID 1 (systemd-nspawn), for tests.

The cached tree from tests/system/rootfs.sh stays untouched: nspawn lays a tmpfs over it
(`--volatile=overlay`), so every boot starts clean and the changes vanish at shutdown.
What makes nspawn boot on a CI machine that is itself a container: the unified cgroup
hierarchy (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1), no machined registration and no scope of
its own (`--register=no --keep-unit`; there is no host system bus to ask), started from a
process already moved into a cgroup of its own, which the container's systemd then
manages. Commands run inside through `nsenter` into every namespace of the container's
PID 1, with a clean environment.

`Container.close()` halts it (SIGTERM to nspawn: an orderly shutdown), kills what is left
through the cgroup, and removes the cgroup folders: nothing stays behind.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
INSIDE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BootError(RuntimeError):
    """The container did not come up; the message says how far it got."""


def cgroup_hierarchies() -> list[Path]:
    """The cgroup roots to make our own folder in: the v2 tree, and systemd's v1 tree on a hybrid host."""
    if (CGROUP_ROOT / "unified/cgroup.procs").exists():  # hybrid: v1 controllers + v2 under unified/
        return [CGROUP_ROOT / "unified", CGROUP_ROOT / "systemd"]
    if (CGROUP_ROOT / "cgroup.procs").exists() and (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    raise BootError(f"no cgroup v2 hierarchy under {CGROUP_ROOT}")


class Container:
    def __init__(
        self,
        rootfs: Path,
        name: str,
        binds: Sequence[tuple[Path, str]] = (),
        read_only_binds: Sequence[tuple[Path, str]] = (),
        log: Path | None = None,
    ) -> None:
        self.rootfs = rootfs
        self.name = name
        self.cgroups = [hierarchy / name for hierarchy in cgroup_hierarchies()]
        self.log = log or Path(f"/tmp/{name}.console.log")
        self.leader: int | None = None
        options = [f"--bind={host}:{inside}" for host, inside in binds]
        options += [f"--bind-ro={host}:{inside}" for host, inside in read_only_binds]
        self._command = [
            "systemd-nspawn",
            f"--directory={rootfs}",
            f"--machine={name}",
            "--volatile=overlay",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--console=passive",
            *options,
        ]
        self._process: subprocess.Popen | None = None

    def boot(self, timeout: float = 300) -> None:  # generous: a loaded CI machine boots slowly
        for cgroup in self.cgroups:
            cgroup.mkdir(exist_ok=True)
        # The shell moves itself into the new cgroup(s), then becomes nspawn.
        moves = "; ".join(f"echo $$ > {shlex.quote(str(cgroup / 'cgroup.procs'))}" for cgroup in self.cgroups)
        env = {"PATH": os.environ.get("PATH", INSIDE_PATH), "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        with self.log.open("wb") as console:
            self._process = subprocess.Popen(
                ["sh", "-c", f"{moves}; exec {shlex.join(self._command)}"],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while self.leader is None:
            self._check_alive()
            self.leader = self._find_init(self._process.pid)
            if time.monotonic() > deadline:
                raise BootError(f"systemd-nspawn started no PID 1 within {timeout:.0f} s: {self.console_tail()}")
            time.sleep(0.1)
        state = ""
        while time.monotonic() < deadline:
            self._check_alive()
            asked = self.run(["systemctl", "is-system-running"], check=False, timeout=30)
            state = (asked.stdout.strip() or asked.stderr.strip())[-300:]
            if state in ("running", "degraded"):
                return
            time.sleep(0.5)
        raise BootError(f"the container's systemd did not finish booting ({state!r}): {self.console_tail()}")

    @staticmethod
    def _find_init(nspawn: int) -> int | None:
        """The container's PID 1 (systemd) among nspawn's children, or None yet.

        nspawn's first child is a short-lived helper that sets up and then forks PID 1: taking
        whichever child comes first races with it (nsenter into a process that is gone).
        """
        try:
            children = Path(f"/proc/{nspawn}/task/{nspawn}/children").read_text().split()
        except OSError:
            return None
        for child in children:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    return int(child)
        return None

    def _check_alive(self) -> None:
        assert self._process is not None
        if self._process.poll() is not None:
            raise BootError(f"systemd-nspawn exited with {self._process.returncode}: {self.console_tail()}")

    def console_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no console log)"

    def run(
        self,
        command: Sequence[str] | str,
        user: str | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
        timeout: float = 300,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run inside, as root or (`user`) through a login shell as that user would; a str is a shell line."""
        assert self.leader is not None, "boot() first"
        line = command if isinstance(command, str) else shlex.join(command)
        if user is not None:
            exports = "".join(f"export {key}={shlex.quote(value)}; " for key, value in (env or {}).items())
            inner = ["runuser", "--login", user, "--command", exports + line]
        else:
            inner = [
                "env",
                "-i",
                f"PATH={INSIDE_PATH}",
                "HOME=/root",
                "LANG=C.UTF-8",
                *self._env(env),
                "sh",
                "-c",
                line,
            ]
        result = subprocess.run(
            ["nsenter", f"--target={self.leader}", "--all", *inner],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": os.environ.get("PATH", INSIDE_PATH)},
            # Its own process group: `kill 0` (or a stray job-control signal) inside must not reach the test.
            start_new_session=True,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"inside the container, `{line}`{' as ' + user if user else ''} exited with {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    @staticmethod
    def _env(env: dict[str, str] | None) -> list[str]:
        return [f"{key}={value}" for key, value in (env or {}).items()]

    def write(self, path: str, text: str, mode: str = "0644") -> None:
        self.run(f"cat > {shlex.quote(path)} && chmod {mode} {shlex.quote(path)}", input=text)

    def close(self) -> None:
        """Halt the container and remove everything its boot made on the host; safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # nspawn: shut the container down in order
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._kill_cgroups()
                process.kill()
                process.wait(timeout=30)
        self._kill_cgroups()
        for cgroup in self.cgroups:
            # The container's systemd made sub-folders (payload/, supervisor/): deepest first.
            for folder, _, _ in os.walk(cgroup, topdown=False):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
        self.leader = None

    def _kill_cgroups(self) -> None:
        for cgroup in self.cgroups:
            kill = cgroup / "cgroup.kill"
            if kill.exists():
                with contextlib.suppress(OSError):
                    kill.write_text("1")
                    time.sleep(0.5)
