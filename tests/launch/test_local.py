"""The local launcher's pieces: how worker exit codes become the run's, when `frugaltune train` launches, and the
watch that stops a worker (save, exit 75) whose launcher died."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from frugaltune.errors import ConfigError
from frugaltune.launch import local
from frugaltune.train.config import RunConfig


@pytest.mark.parametrize(("outcome", "code"), [
    ({"codes": [0]}, 0),
    ({"codes": [75, 75]}, 75),
    ({"codes": [0, 75]}, 75),       # one rank had finished its last step when the other saw the signal
    ({"codes": [2, 75]}, 2),        # a bad-input error on a rank wins over the others' stop
    ({"codes": [-9, 75]}, 1),       # a rank killed by a signal: a plain failure, said on stderr
    ({"error": "RendezvousTimeoutError: no peers"}, 1),
])
def test_worker_exit_codes_become_the_run_exit_code(outcome, code, capsys):
    assert local.exit_code(outcome) == code
    if code == 1:
        assert capsys.readouterr().err.startswith("error: ")


def test_launch_only_outside_a_launched_process(monkeypatch):
    cfg = RunConfig.from_dict({"distributed": {"num_processes": 2}})
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert local.needs_launch(cfg) and not local.needs_launch(RunConfig())
    monkeypatch.setenv("LOCAL_RANK", "0")  # torchrun / accelerate launch / our own launcher started us
    assert not local.needs_launch(cfg)


def test_several_machines_need_a_meeting_point(monkeypatch):
    cfg = RunConfig.from_dict({"distributed": {"num_processes": 2, "num_nodes": 2}})
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ConfigError, match="distributed.rdzv_endpoint"):
        local.rendezvous_endpoint(cfg)
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.5")
    assert local.rendezvous_endpoint(cfg) == "10.0.0.5:29500"
    assert local.rendezvous_endpoint(RunConfig()) == "localhost:0"


WORKER = textwrap.dedent("""
    import signal, sys, time
    from frugaltune.launch.local import watch_launcher
    def stop(signum, frame):
        open(sys.argv[1], "w").write("saved")
        sys.exit(75)
    signal.signal(signal.SIGTERM, stop)
    watch_launcher()
    time.sleep(60)
""")
LAUNCHER = textwrap.dedent("""
    import os, subprocess, sys, time
    env = {**os.environ, "LOCAL_RANK": "0", "FRUGALTUNE_LAUNCHER_PID": str(os.getpid())}
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], env=env, start_new_session=True)
    open(sys.argv[3], "w").write(str(child.pid))
    time.sleep(60)
""")


def test_a_worker_whose_launcher_is_killed_stops_like_on_sigterm(tmp_path):
    saved, pid_file = tmp_path / "saved", tmp_path / "worker.pid"
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, WORKER, str(saved), str(pid_file)],
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.is_file() or not pid_file.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # the worker is up and watching
        launcher.kill()  # SIGKILL: nothing is passed on to the worker, it is in a session of its own
        launcher.wait()
        while not saved.is_file():
            assert time.monotonic() < deadline, "the worker did not notice its launcher died"
            time.sleep(0.05)
        assert saved.read_text() == "saved"
    finally:
        if launcher.poll() is None:
            launcher.kill()
        if pid_file.is_file() and pid_file.read_text():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_rank_that_stopped_stays_deaf_to_the_launchers_repeated_sigterm():
    # torch's agent SIGTERMs the ranks still running when one exits 75: a rank that already saved must not die of it
    from frugaltune.train.signals import StopSignals

    before = signal.getsignal(signal.SIGTERM)
    try:
        stopping = StopSignals().__enter__()
        stopping.deaf_after_exit = True  # what the recipe sets when it stops in a multi-process run
        stopping.__exit__(None, None, None)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        signal.signal(signal.SIGTERM, before)
        plain = StopSignals().__enter__()
        plain.request()  # an in-process stop (the Python API): the caller's handler comes back
        plain.__exit__(None, None, None)
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        signal.signal(signal.SIGTERM, before)


def test_machines_that_do_not_share_the_run_directory_are_named(tmp_path):
    from frugaltune.train.engines.base import unshared_problem

    assert unshared_problem(tmp_path, [(True, "a"), (True, "a"), (True, "b"), (True, "b")]) is None
    why = unshared_problem(tmp_path, [(True, "a"), (True, "a"), (False, "b"), (False, "b")])
    assert why == (f"output.dir: {tmp_path} is not shared by every machine: rank(s) 2, 3 on b do not see what rank 0 "
                   "(a) writes there, so a checkpoint would be split between disks.")


def _own_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing), or None without a route."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("203.0.113.1", 9))
            return s.getsockname()[0]
    except OSError:
        return None


def test_which_machine_hosts_the_rendezvous_store(monkeypatch):
    import socket

    here = ["localhost", "127.0.0.1", "127.0.1.1", "::1", socket.gethostname()]
    own = _own_address()
    here += [own] if own and not own.startswith("127.") else []
    for host in here:
        assert local.is_this_machine(host), host
    # documentation-only addresses (RFC 5737, 3849), the wildcard that names no machine, a name that never resolves
    for host in ("203.0.113.77", "2001:db8::1", "0.0.0.0", "::", "no-such-host.invalid", ""):
        assert not local.is_this_machine(host), host
    real = socket.getaddrinfo
    names = {"trainer-7.internal": "127.0.0.1", "other-box.internal": "203.0.113.8"}  # what DNS would answer

    def resolve(host, *args, **kwargs):
        return real(names.get(host, host), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    assert local.is_this_machine("trainer-7.internal") and not local.is_this_machine("other-box.internal")
