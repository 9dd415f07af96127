"""Caller code runs only here: one bubblewrap sandbox per task, its whole process tree killed as one.

Every task command and every task callable (through :mod:`workflows.tasks.invoke`) of a task
workflow, and so the dry run of ``spec_generate``, runs as a child process under ``bwrap``
(Debian package ``bubblewrap``)::

    bwrap --ro-bind / / --dev /dev --proc /proc --unshare-all --cap-drop ALL --die-with-parent
          --new-session --size N --tmpfs /tmp --tmpfs STATE_DIR [--ro-bind CWD CWD] --bind RUN_DIR RUN_DIR
          --remount-ro STATE_DIR --clearenv --setenv PATH ... --chdir CWD
          -- sh -c GUARD sh prlimit --cpu=.. --as=.. --nproc=.. --fsize=.. -- COMMAND...

* the system is read-only; the run directory is the only writable path (``/tmp`` is a private,
  size-limited tmpfs that vanishes with the sandbox);
* every hidden directory (the node's state directory: tokens, keys, databases) is an empty,
  read-only tmpfs; the workflow directory inside it is bound back read-only, other runs under it
  stay hidden;
* no network (``--unshare-all`` includes the network namespace), no capabilities, a scrubbed
  environment (``PATH``, ``HOME``, ``LANG``, ``TMPDIR``, ``PYTHONPATH``);
* resource limits (:class:`SandboxLimits`, the ``[sandbox]`` table of a task workflow config):
  CPU seconds, address space, processes, file size. RLIMIT_NPROC does not bind root, so a root
  node also puts each sandbox in its own pids cgroup when one is writable;
* bwrap's pid namespace and ``--die-with-parent``: killing bwrap (timeout, stop, cancel) or the
  death of the process that started it (the node, a worker) kills every process of the task.

A node without bwrap refuses caller code (:class:`SandboxUnavailable`, with the install hint)
unless it was started with ``unsafe_no_sandbox``, which runs the code unconfined and says so in
a WARNING at start and on every run.

Example::

    sandbox = Sandbox(hidden=(state_dir,))
    done = await sandbox.run(["python", "train.py"], run_dir=run_dir, cwd=workflow_dir,
                             limits=SandboxLimits(), timeout_s=60)
    done.returncode, done.stdout[-200:], done.reason()
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from workflows.tasks.errors import PayloadError

__all__ = ["INSTALL_HINT", "Finished", "Sandbox", "SandboxLimits", "SandboxUnavailable"]

log = logging.getLogger(__name__)

INSTALL_HINT = ("install bubblewrap on the node (Debian/Ubuntu: apt-get install bubblewrap), or start the node "
                "with --unsafe-no-sandbox to run caller code unconfined (not for shared nodes)")
OUTPUT_TAIL = 1 << 20
"""Bytes of a sandboxed process's stdout and of its stderr kept (the tail); the rest is read and dropped."""
PATH = "/usr/local/bin:/usr/bin:/bin"
PRLIMIT = "prlimit"
PRIVATE = ("/tmp", "/dev/shm", "/run")
"""Directories every sandbox gets as its own empty tmpfs."""
_CGROUP_V1 = Path("/sys/fs/cgroup/pids")
_CGROUP_V2 = Path("/sys/fs/cgroup")
_SEQUENCE = itertools.count()


class SandboxUnavailable(PayloadError):
    """This host cannot sandbox caller code (no bwrap); the message says how to install it."""


class SandboxLimits(BaseModel):
    """Resource limits of one sandboxed task: the ``[sandbox]`` table of a task workflow config.

    >>> SandboxLimits(cpu_s=60).memory_mb
    2048
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_s: int = Field(600, ge=1, le=86_400, description="CPU seconds per process (RLIMIT_CPU)")
    memory_mb: int = Field(2048, ge=64, le=65_536, description="address space per process, MiB (RLIMIT_AS)")
    processes: int = Field(256, ge=1, le=4096, description="processes and threads of the task (RLIMIT_NPROC, pids cgroup)")
    file_mb: int = Field(1024, ge=1, le=102_400, description="largest file a process may write, MiB (RLIMIT_FSIZE); "
                                                            "also the size of the private /tmp")

    def describe(self) -> str:
        """``cpu_s=600, memory_mb=2048, processes=256, file_mb=1024``."""
        return ", ".join(f"{k}={v}" for k, v in self.model_dump().items())


_SIGNALS = {signal.SIGXCPU: "the CPU time limit (cpu_s)", signal.SIGXFSZ: "the file size limit (file_mb)",
            signal.SIGKILL: "SIGKILL (the CPU time limit, cpu_s, or a kill)",
            signal.SIGSEGV: "SIGSEGV (often the memory limit, memory_mb)"}
_HINTS = (("cannot allocate memory", "memory_mb"), ("memoryerror", "memory_mb"), ("out of memory", "memory_mb"),
          ("cannot fork", "processes"), ("resource temporarily unavailable", "processes"),
          ("can't start new thread", "processes"), ("file too large", "file_mb"))


@dataclass
class Finished:
    """How a sandboxed process ended; ``stdout``/``stderr`` are their last :data:`OUTPUT_TAIL` bytes."""

    returncode: int
    stdout: bytes
    stderr: bytes
    limits: SandboxLimits
    timed_out: bool = False

    def reason(self, tail: int = 2000) -> str | None:
        """Why it failed: the exit status or the signal (naming the limit it hit when that can be told),
        then the last ``tail`` characters of stderr; ``None`` on success."""
        if self.returncode == 0 and not self.timed_out:
            return None
        stderr = self.stderr.decode(errors="replace").strip()
        limited = self.returncode > 128 and self.returncode - 128 in _SIGNALS  # bwrap exits 128 + signal
        cause = (f"killed by {_SIGNALS[signal.Signals(self.returncode - 128)]}" if limited
                 else f"exit status {self.returncode}")
        hit = sorted({limit for needle, limit in _HINTS if needle in stderr.lower()})
        text = f"{cause}: {stderr[-tail:] or '(no stderr)'}"
        if hit:
            text += f" (it looks like the {', '.join(hit)} limit)"
        if limited or hit:
            text += f" [sandbox limits: {self.limits.describe()}]"
        return text


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclass(frozen=True)
class Sandbox:
    """How this node or worker runs caller code (see the module docstring).

    ``hidden``: directories the sandbox sees as empty (the state directory); ``bwrap``: the
    program (a name on PATH or a path); ``unsafe_no_sandbox``: run unconfined (a WARNING each run).
    """

    bwrap: str = "bwrap"
    hidden: tuple[Path, ...] = ()
    unsafe_no_sandbox: bool = False
    private_home: bool = True
    """Hide the home directory of the node's user too (its interpreter and project paths are bound back)."""
    pythonpath: tuple[str, ...] = field(default_factory=lambda: tuple(
        p for p in sys.path if p and os.path.isabs(p) and os.path.isdir(p)))
    """Where the sandboxed ``python`` finds this project's modules (the node's own ``sys.path``)."""

    def executable(self) -> str:
        """The bwrap program; raise :class:`SandboxUnavailable` with the install hint when it is missing."""
        found = shutil.which(self.bwrap)
        if found is None:
            raise SandboxUnavailable(f"sandbox: bubblewrap ({self.bwrap!r}) is not on this node, so caller code is "
                                     f"refused; {INSTALL_HINT}")
        return found

    def announce(self) -> None:
        """Log at start what this node does with caller code (a WARNING when unconfined or impossible)."""
        if self.unsafe_no_sandbox:
            log.warning("UNSAFE: caller code (task commands, callables, spec_generate dry runs) runs WITHOUT a "
                        "sandbox on this node, as its own user, with its files and network (unsafe_no_sandbox)")
            return
        try:
            log.info("caller code runs in bubblewrap (%s); hidden: %s", self.executable(),
                     ", ".join(map(str, self.hidden)) or "nothing")
        except SandboxUnavailable as exc:
            log.warning("%s", exc)
        cgroups = _pids_cgroup_root() if os.geteuid() == 0 else None
        if cgroups is not None:
            _reap_stale(cgroups)
        elif os.geteuid() == 0:
            log.warning("sandbox: running as root without a writable pids cgroup: the processes limit is not "
                        "enforced (RLIMIT_NPROC does not bind root); run the node as an unprivileged user")

    # --- the command line -----------------------------------------------------------------

    def argv(self, command: Sequence[str], *, run_dir: Path, cwd: Path, limits: SandboxLimits) -> list[str]:
        """The bwrap command line that runs ``command`` in ``cwd`` with ``run_dir`` writable."""
        run_dir, cwd = Path(run_dir).resolve(), Path(cwd).resolve()
        hidden = [h.resolve() for h in self.hidden if h.exists()]
        self._check_paths(run_dir, cwd, hidden)
        argv = [self.executable(), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
                "--die-with-parent", "--new-session"]
        if os.geteuid() == 0:
            argv += ["--cap-drop", "ALL"]
        for private in PRIVATE:  # size-limited, gone with the sandbox; /run also hides the host's unix sockets
            argv += ["--size", str(limits.file_mb << 20), "--tmpfs", private]
        read_only: list[Path] = []
        home = self._private_home(cwd, run_dir)
        if home is not None:
            argv += ["--tmpfs", str(home)]
            read_only.append(home)
        for path in self._exposed(home):  # the interpreter and this project's modules, read-only
            argv += ["--ro-bind", str(path), str(path)]
        for path in hidden:  # after the exposed paths: a state directory inside one stays hidden
            argv += ["--tmpfs", str(path)]
        if not _inside(cwd, run_dir):
            argv += ["--ro-bind", str(cwd), str(cwd)]
        parent = run_dir.parent
        if parent != cwd and any(_inside(parent, h) for h in (*hidden, cwd)) and not _inside(cwd, parent):
            argv += ["--tmpfs", str(parent)]  # other runs beside this one stay hidden
            read_only.append(parent)
        argv += ["--bind", str(run_dir), str(run_dir)]
        for path in (*read_only, *hidden):
            argv += ["--remount-ro", str(path)]
        python_bin = os.path.dirname(sys.executable)
        env = {"PATH": f"{python_bin}:{PATH}", "HOME": str(run_dir), "LANG": "C.UTF-8", "TMPDIR": "/tmp",
               "PYTHONPATH": ":".join(p for p in self.pythonpath
                                      if not any(_inside(Path(p), h) for h in hidden)),
               "PYTHONDONTWRITEBYTECODE": "1"}
        argv.append("--clearenv")
        for key, value in env.items():
            argv += ["--setenv", key, value]
        argv += ["--chdir", str(cwd), "--", "/bin/sh", "-c", _GUARD.format(fd=_lifeline()), "sh",
                 shutil.which(PRLIMIT) or PRLIMIT,
                 f"--cpu={limits.cpu_s}:{limits.cpu_s + 1}", f"--as={limits.memory_mb << 20}",
                 f"--nproc={limits.processes}", f"--fsize={limits.file_mb << 20}", "--", *command]
        return argv

    def _private_home(self, cwd: Path, run_dir: Path) -> Path | None:
        """The node user's home directory, hidden unless ``private_home`` is off or it holds the task."""
        if not self.private_home:
            return None
        home = Path.home().resolve()
        if home == Path("/") or not home.is_dir() or home in (cwd, run_dir):
            return None
        return home

    def _exposed(self, home: Path | None) -> list[Path]:
        roots = [Path(p) for p in PRIVATE] + ([home] if home is not None else [])
        wanted = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                                               *self.pythonpath)}
        found = sorted(p for p in wanted if p.is_dir() and any(_inside(p, r) and p != r for r in roots))
        return [p for p in found if not any(q != p and _inside(p, q) for q in found)]  # outermost only

    @staticmethod
    def _check_paths(run_dir: Path, cwd: Path, hidden: list[Path]) -> None:
        if not run_dir.is_dir():
            raise PayloadError(f"sandbox: run directory {run_dir} does not exist on this host")
        if not cwd.is_dir():
            raise PayloadError(f"sandbox: working directory {cwd} does not exist on this host")
        if run_dir == Path("/") or any(_inside(h, run_dir) for h in hidden):
            raise PayloadError(f"sandbox: run directory {run_dir} would expose the node's state; runs go in a "
                               "directory of their own")
        if cwd == Path("/") or any(_inside(h, cwd) for h in hidden):
            raise PayloadError(f"sandbox: working directory {cwd} would expose the node's state; use the "
                               "workflow's own directory")

    # --- running --------------------------------------------------------------------------

    async def run(self, command: Sequence[str], *, run_dir: Path | None, cwd: Path | None, limits: SandboxLimits,
                  timeout_s: float | None, stdin: bytes | None = None) -> Finished:
        """Run ``command`` to its end or ``timeout_s`` (then its whole tree is killed); never leaves a process.

        ``run_dir`` ``None`` gives a private temporary directory, removed afterwards; ``cwd`` ``None``
        is the run directory.
        """
        own = run_dir is None
        directory = Path(tempfile.mkdtemp(prefix="controlroom-task-")) if own else Path(run_dir)  # type: ignore[arg-type]
        try:
            if self.unsafe_no_sandbox:
                log.warning("UNSAFE: running caller code without a sandbox: %s", " ".join(command)[:200])
                argv, cgroup = list(command), None
            else:
                argv = self.argv(command, run_dir=directory, cwd=cwd or directory, limits=limits)
                cgroup = _PidsCgroup.create(limits.processes) if os.geteuid() == 0 else None
                if cgroup is not None:
                    argv = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(cgroup.procs), *argv]
            try:
                return await self._spawn(argv, cwd=cwd or directory, limits=limits, timeout_s=timeout_s, stdin=stdin)
            finally:
                if cgroup is not None:
                    cgroup.remove()
        finally:
            if own:
                shutil.rmtree(directory, ignore_errors=True)

    async def _spawn(self, argv: list[str], *, cwd: Path, limits: SandboxLimits, timeout_s: float | None,
                     stdin: bytes | None) -> Finished:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
            **({"preexec_fn": _dies_with(os.getpid())} if self.unsafe_no_sandbox else {"pass_fds": (_lifeline(),)}))
        assert process.stdout is not None and process.stderr is not None
        io = asyncio.gather(_tail(process.stdout), _tail(process.stderr), _feed(process, stdin), process.wait())
        try:
            async with asyncio.timeout(timeout_s):
                stdout, stderr, _, code = await io
        except TimeoutError:
            await _kill(process)
            return Finished(process.returncode if process.returncode is not None else -9, b"", b"", limits,
                            timed_out=True)
        except BaseException:
            await asyncio.shield(_kill(process))
            raise
        return Finished(code, stdout, stderr, limits)


_GUARD = '(while read -r _; do :; done < /proc/self/fd/{fd}; kill -9 -1) & "$@"; exit $?'
"""Inside the sandbox, before the task: a reader of the lifeline that, at its end of file (this
process died, whenever that was, even while bwrap was still setting up), kills every process
of the sandbox's pid namespace. bwrap 0.8 arms its own parent-death signal only after setup."""
_LIFELINE: list[int] = []


def _lifeline() -> int:
    """The read end of a pipe whose write end only this process holds (never written, never inherited)."""
    if not _LIFELINE or _LIFELINE[0] != os.getpid():  # a forked child makes its own
        read, _write = os.pipe()  # both non-inheritable; the read end is passed to each sandbox explicitly
        _LIFELINE[:] = [os.getpid(), read, _write]
    return _LIFELINE[1]


def _dies_with(parent: int) -> Callable[[], None]:
    """Between fork and exec: PR_SET_PDEATHSIG(SIGKILL), so an unsandboxed child (unsafe_no_sandbox)
    dies with this process; exit at once if this process already died. A sandbox needs none: its
    lifeline guard ends it, without Python code between fork and exec in a threaded node."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def arm() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG; kept across exec (bwrap is not setuid)
        if os.getppid() != parent:
            os._exit(1)

    return arm


async def _tail(stream: asyncio.StreamReader) -> bytes:
    kept = bytearray()
    while chunk := await stream.read(1 << 16):
        kept += chunk
        if len(kept) > 2 * OUTPUT_TAIL:
            del kept[:-OUTPUT_TAIL]
    return bytes(kept[-OUTPUT_TAIL:])


async def _feed(process: asyncio.subprocess.Process, data: bytes | None) -> None:
    if data is None or process.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(data)
        await process.stdin.drain()
        process.stdin.close()


async def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL bwrap's session: the sandbox's pid 1 dies with bwrap, and with it every process inside."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    with contextlib.suppress(Exception):
        await process.wait()


# --- the pids cgroup of a root node ----------------------------------------------------------

def _pids_cgroup_root() -> Path | None:
    """A writable directory of the pids controller (cgroup v1, or v2 with pids delegated), else ``None``."""
    candidates = []
    if (_CGROUP_V1 / "cgroup.procs").exists():
        candidates.append(_CGROUP_V1)
    with contextlib.suppress(OSError):
        if "pids" in (_CGROUP_V2 / "cgroup.subtree_control").read_text().split():
            candidates.append(_CGROUP_V2)
    for base in candidates:
        root = base / "controlroom-sandbox"
        try:
            root.mkdir(exist_ok=True)
            if base == _CGROUP_V2:
                (root / "cgroup.subtree_control").write_text("+pids")
            return root
        except OSError:
            continue
    return None


@dataclass(frozen=True)
class _PidsCgroup:
    """One sandbox's pids cgroup: ``pids.max`` = the processes limit; removed after the run."""

    path: Path

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    @classmethod
    def create(cls, processes: int) -> _PidsCgroup | None:
        root = _pids_cgroup_root()
        if root is None:
            return None
        _reap_stale(root)
        for path in list(_UNREMOVED):
            _empty(path)
        path = root / f"{os.getpid()}-{next(_SEQUENCE)}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(processes + 2))  # + the sh wrapper that becomes bwrap, bwrap's init
        except OSError as exc:
            log.warning("sandbox: no pids cgroup for this run (%s); the processes limit is not enforced for root", exc)
            return None
        return cls(path)

    def remove(self) -> None:
        """Kill whatever is still in it (nothing, normally), then remove it."""
        _empty(self.path)


_UNREMOVED: set[Path] = set()
"""This process's cgroups whose last processes were still exiting at removal: removed at the next run."""


def _empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        for pid in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
    try:
        path.rmdir()
        _UNREMOVED.discard(path)
    except FileNotFoundError:
        _UNREMOVED.discard(path)
    except OSError:  # EBUSY: the namespace's processes are still being torn down
        _UNREMOVED.add(path)


def _reap_stale(root: Path) -> None:
    """Sandboxes left by a node or worker that was killed (its pid is gone): kill them, remove their cgroups."""
    for stale in root.iterdir():
        owner = stale.name.partition("-")[0]
        if stale.is_dir() and owner.isdigit() and int(owner) != os.getpid() and not Path(f"/proc/{owner}").exists():
            _empty(stale)
