"""`frugaltune train` with `distributed.num_processes` x `num_nodes` > 1: start the processes on this machine.

torch's elastic launcher (what `torchrun` runs) starts one worker per process, each running the same
`frugaltune train` command (it sees LOCAL_RANK and trains instead of launching again). The launcher runs in a
background thread so that this process keeps its own SIGTERM/SIGINT handler: a spot notice or Ctrl-C is passed on
to every worker, which all save the same step and exit 75; this process then exits 75 too. (torch's agent would
otherwise answer a signal by stopping the workers itself, with a fixed grace period.) The equivalent torchrun
command and the engine's configuration files are written into `<run>/distributed/` first.

On several machines the launcher on the rendezvous endpoint's machine hosts torch's c10d store itself (`hold_store`)
and keeps it open until every machine's launcher is done: the store otherwise lives inside that machine's agent,
and a machine that stopped first (the one that got the spot notice) would take it away from the others while they
still save, turning their exit 75 into a rendezvous error.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import uuid

from frugaltune.errors import ConfigError
from frugaltune.train.signals import EXIT_INTERRUPTED

WORKER = [sys.executable, "-c", "from frugaltune.cli import main; main()"]
LAUNCHER_PID = "FRUGALTUNE_LAUNCHER_PID"
WATCH_INTERVAL_S = 1.0
STORE_LINGER_S = 120.0  # how long the store's host waits for the other machines' launchers to finish
DONE_KEY = "frugaltune/launchers_done"


def is_worker() -> bool:
    """True inside a process that a launcher (ours, torchrun, accelerate launch) started."""
    return "LOCAL_RANK" in os.environ


def needs_launch(cfg) -> bool:
    return cfg.distributed.world_size > 1 and not is_worker()


def rendezvous_endpoint(cfg) -> str:
    """Where the machines meet: localhost for one machine, else distributed.rdzv_endpoint or
    $MASTER_ADDR:$MASTER_PORT."""
    d = cfg.distributed
    if d.num_nodes == 1:
        return "localhost:0"
    endpoint = d.rdzv_endpoint or (f"{os.environ['MASTER_ADDR']}:{os.environ.get('MASTER_PORT', '29500')}"
                                   if os.environ.get("MASTER_ADDR") else None)
    if not endpoint:
        raise ConfigError(f"distributed.num_nodes is {d.num_nodes} but no machine to meet at.",
                          fix="Set distributed.rdzv_endpoint: HOST:PORT of the first machine (or MASTER_ADDR and "
                              "MASTER_PORT), and run the same command on every machine.")
    return endpoint


def launch(cfg, args: list[str]) -> int:
    """Run `frugaltune ARGS` in `cfg.distributed.world_size` processes; the exit code the run should end with.

    Args:
        cfg: the validated RunConfig (its output.dir receives distributed/).
        args: the worker's command-line arguments after `frugaltune` (train CONFIG ...).
    """
    from frugaltune.train.engines import files, resolve_precision

    d = cfg.distributed
    endpoint = rendezvous_endpoint(cfg)
    files.write_all(cfg.output.dir, cfg, ["frugaltune", *args], resolve_precision(cfg.training.precision),
                    None if d.num_nodes == 1 else endpoint)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # what torchrun sets: N processes must not each take every core
    os.environ[LAUNCHER_PID] = str(os.getpid())  # workers watch it (torch starts them in sessions of their own)
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # we report the outcome ourselves
    outcome: dict = {}
    store = hold_store(endpoint) if d.num_nodes > 1 else None
    thread = threading.Thread(target=_run_agent, args=(cfg, endpoint, args, outcome), daemon=True)
    previous = {sig: signal.signal(sig, _forward_to_workers) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
        if d.num_nodes > 1:
            _all_done(store, endpoint, d.num_nodes)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code(outcome)


def hold_store(endpoint: str, timeout_s: float = STORE_LINGER_S):
    """The c10d rendezvous store's server when this process can host it (the endpoint is this machine's and no other
    process here hosts it yet), else None. torch's agent in this process then shares it (a multi-tenant store)."""
    from datetime import timedelta

    from torch.distributed import TCPStore

    host, port = _host_port(endpoint)
    if not is_this_machine(host):
        return None
    try:
        return TCPStore(host, port, is_master=True, multi_tenant=True, wait_for_workers=False,
                        timeout=timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError, OSError):  # another machine's address, or already hosted here
        return None


def is_this_machine(host: str) -> bool:
    """Whether `host` (a name or an IP address) is this machine: localhost, a loopback address, this machine's host
    name, or a name or address a socket here can bind (an address of one of this machine's own interfaces, which
    covers its fully qualified name and secondary network cards). The wildcard 0.0.0.0 / :: names no machine."""
    import socket

    if host in ("localhost", socket.gethostname()):
        return True
    try:
        addresses = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):  # a name that does not resolve is not this machine
        return False
    return any(_is_local_address(family, sockaddr) for family, _type, _proto, _name, sockaddr in addresses)


def _is_local_address(family: int, sockaddr: tuple) -> bool:
    """A loopback address, or one a socket here can bind (binding another machine's address fails)."""
    import ipaddress
    import socket

    ip = ipaddress.ip_address(sockaddr[0].split("%")[0])  # an IPv6 address may carry its interface: fe80::1%eth0
    if ip.is_loopback or ip.is_unspecified:
        return ip.is_loopback
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((sockaddr[0], 0, *sockaddr[2:]))
    except OSError:
        return False
    return True


def _all_done(store, endpoint: str, num_nodes: int) -> None:
    """Count this machine's launcher as done; the store's host waits (a while) for every machine's to be."""
    import time
    from datetime import timedelta

    from torch.distributed import TCPStore

    try:
        client = store or TCPStore(*_host_port(endpoint), is_master=False, multi_tenant=True,
                                   timeout=timedelta(seconds=10))
        done = client.add(DONE_KEY, 1)
        deadline = time.monotonic() + STORE_LINGER_S
        while store is not None and done < num_nodes and time.monotonic() < deadline:
            time.sleep(0.2)
            done = client.add(DONE_KEY, 0)
    except (RuntimeError, ValueError, OSError):  # the host has gone already: nothing left to wait for
        return


def _host_port(endpoint: str) -> tuple[str, int]:
    host, port = endpoint.rsplit(":", 1)
    return host, int(port)


def _run_agent(cfg, endpoint: str, args: list[str], outcome: dict) -> None:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    d = cfg.distributed
    config = LaunchConfig(min_nodes=d.num_nodes, max_nodes=d.num_nodes, nproc_per_node=d.num_processes,
                          run_id=cfg.run_name if d.num_nodes > 1 else str(uuid.uuid4()), rdzv_backend="c10d",
                          rdzv_endpoint=endpoint, max_restarts=0, monitor_interval=0.1, start_method="spawn")
    try:
        elastic_launch(config, WORKER[0])(*WORKER[1:], *args)
        outcome["codes"] = [0]
    except ChildFailedError as err:
        outcome["codes"] = [f.exitcode for _, f in sorted(err.failures.items())]
    except Exception as err:  # noqa: BLE001 -- a rendezvous that never forms, a worker that cannot start
        outcome["error"] = f"{type(err).__name__}: {err}"


def _forward_to_workers(signum, frame) -> None:
    """SIGTERM every worker (children of this process); each saves at its next step boundary and exits 75."""
    import psutil

    for child in psutil.Process().children(recursive=False):
        try:
            child.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass


def watch_launcher() -> None:
    """In a worker our launcher started: if the launcher dies (SIGKILL, a closed terminal), stop like on a SIGTERM
    (save, exit 75) instead of training on unattended; torch starts workers in their own sessions, so nothing else
    would reach them."""
    launcher = os.environ.get(LAUNCHER_PID)
    if not launcher or not is_worker():
        return

    def watch() -> None:
        import time

        while os.getppid() == int(launcher):
            time.sleep(WATCH_INTERVAL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="frugaltune-launcher-watch").start()


def exit_code(outcome: dict) -> int:
    """0 when every worker finished, 75 when they all stopped on a signal after saving, else the first failure's."""
    if "error" in outcome:
        print(f"error: the training processes did not start: {outcome['error']}", file=sys.stderr)
        return 1
    codes = outcome.get("codes") or [1]
    if all(c in (0, EXIT_INTERRUPTED) for c in codes):
        return EXIT_INTERRUPTED if EXIT_INTERRUPTED in codes else 0
    failed = [c for c in codes if c not in (0, EXIT_INTERRUPTED)]
    if failed[0] < 0:  # killed by a signal: say which, the worker could not
        print(f"error: a training process was killed by signal {-failed[0]} (exit codes {codes}).", file=sys.stderr)
        return 1
    return failed[0]
