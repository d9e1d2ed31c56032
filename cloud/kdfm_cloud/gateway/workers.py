"""Several gateway processes on one port: `gateway.workers` > 1.

Storing an upload is Python-bound, and a Python process runs Python on one core at a time (the
GIL): a gateway storing uploads in threads used one core (bench/ingest). So `kdfm-cloud serve`
starts `workers` processes of itself that listen on the same port (SO_REUSEPORT: the kernel
spreads the agents' connections over them) and watches them. Each worker is a whole gateway
with its own repository; the store is made for several gateways at once (devices move forward
only, readings are unique per id, SQLite writers take turns on a lock file, reads take no
lock), so while one worker writes, another turns its upload into rows.

The supervisor forwards SIGTERM/SIGINT and waits for every worker's graceful stop. When a worker
dies on its own, it stops the others and exits non-zero naming the worker: a gateway quietly
serving with fewer workers would hide the fault, and the service manager (systemd, Kubernetes)
restarts the whole.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from kdfm_cloud.errors import ConfigError
from kdfm_cloud.settings import GatewaySettings

log = logging.getLogger(__name__)

_WATCH_SECONDS = 0.2
_STOP_MARGIN_SECONDS = 15.0
"""Time a worker gets beyond the grace period to finish its stop before it is killed."""
CONFIG_ERROR = 2
"""Exit status of `kdfm-cloud serve` on a configuration error (a worker's too)."""


def check_workers(settings: GatewaySettings) -> None:
    """ConfigError unless `workers` is a count the listen addresses can serve."""
    if settings.workers < 1:
        raise ConfigError(f"gateway.workers must be 1 or more, not {settings.workers}")
    if settings.workers == 1:
        return
    for name, listen in (("gateway.listen", settings.listen),
                         ("gateway.enroll.listen", settings.enroll.listen)):
        if listen and listen.rsplit(":", 1)[-1] == "0":
            raise ConfigError(
                f"gateway.workers is {settings.workers} but {name} {listen!r} picks a free "
                "port, a different one for each worker: give the port they are to share")


def worker_argv(config: Path, index: int) -> list[str]:
    """The command line of worker `index`: a `kdfm-cloud serve` that serves, not supervises."""
    return [sys.executable, "-m", "kdfm_cloud.cli", "serve", "--config", str(config),
            "--worker", str(index)]


def supervise(config: Path, settings: GatewaySettings) -> int:
    """Run `settings.workers` workers until SIGTERM/SIGINT; answers the gateway's exit status."""
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            log.info("signal %s received: stopping %d gateway workers",
                     signal.Signals(signum).name, settings.workers)
        stopping = True

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(settings.workers):
            workers.append(subprocess.Popen(worker_argv(config, index)))
        log.info("gateway started %d workers (pids %s)", len(workers),
                 " ".join(str(w.pid) for w in workers))
        failed: tuple[int, int] | None = None
        while not stopping and failed is None:
            time.sleep(_WATCH_SECONDS)
            failed = next(((index, code) for index, worker in enumerate(workers)
                           if (code := worker.poll()) is not None), None)
        if failed is not None:
            index, code = failed
            print(f"kdfm-cloud serve: gateway worker {index} (pid {workers[index].pid}) exited "
                  f"with status {code}; stopping the other workers", file=sys.stderr)
        codes = _stop(workers, settings.shutdown_grace_seconds + _STOP_MARGIN_SECONDS)
        if failed is not None:
            return CONFIG_ERROR if failed[1] == CONFIG_ERROR else 1
        return 0 if all(code == 0 for code in codes) else 1
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop(workers: list[subprocess.Popen[bytes]], timeout: float) -> list[int]:
    """SIGTERM to every running worker, then their exit statuses (killed after `timeout`)."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    codes = []
    for index, worker in enumerate(workers):
        try:
            codes.append(worker.wait(timeout=max(deadline - time.monotonic(), 0.1)))
        except subprocess.TimeoutExpired:
            print(f"kdfm-cloud serve: gateway worker {index} (pid {worker.pid}) did not stop "
                  f"within {timeout:.0f} s; killed", file=sys.stderr)
            worker.kill()
            codes.append(worker.wait())
    return codes
