"""Printers of their own for every network-namespace site: one snmpsim on the bridge.

A site's namespace has its own loopback, so the loopback fleet (harness.fleet) is out of its
reach. What a site does reach is the root namespace's address on the sites' bridge
(10.213.<r>.1, the sites' default gateway, harness.netns). So ONE snmpsim process in the root
namespace serves one SNMP engine per printer on that address, each printer on a UDP port of
its own, and every site is given only its own printers' endpoints. That is lighter than one
snmpsim per namespace (`ip netns exec`): one process and one index cache instead of ten, and
the readiness check runs from here. The bridge and its subnet exist only for the test.

The printers are the sample site (harness.sample_site), written into the work directory, so
the rollout test does not depend on $KDFM_RECORDINGS.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.fleet import COMMUNITY, FleetDevice, device_answers, link_or_copy
from harness.netns import Site
from harness.sample_site import SAMPLE_PRINTERS, write_sample_site
from harness.snmpsim import RECORDING_SUFFIX, STARTUP_TIMEOUT, responder_path
from kdfm_cloud.devstack.processes import free_port, start_process, wait_until


@dataclass(frozen=True)
class SitePrinter:
    """One printer a site reads: where it answers and the serial number it reports."""

    endpoint: str
    serial_number: str


def bridge_address(site: Site) -> str:
    """The root namespace's address on the site's bridge (`.1` of the site's /24)."""
    return site.address.rsplit(".", 1)[0] + ".1"


def _device_dir(devices_dir: Path, device: FleetDevice) -> Path:
    return devices_dir / f"{device.address}-{device.port}"


@contextmanager
def printers_on_bridge(sites: Sequence[Site], work_dir: Path,
                       per_site: int = 2) -> Iterator[dict[str, tuple[SitePrinter, ...]]]:
    """Start `per_site` printers for every site; yields site name -> its printers."""
    if not sites:
        raise ValueError("printers_on_bridge needs at least one site")
    recordings = write_sample_site(work_dir / "recordings")
    serials = {p.stem: p.serial_number for p in SAMPLE_PRINTERS}
    address = bridge_address(sites[0])
    devices_dir = work_dir / "devices"
    assignment: dict[str, list[FleetDevice]] = {}
    taken: set[int] = set()
    for number, site in enumerate(sites):
        if bridge_address(site) != address:
            raise ValueError(f"{site.name} is on another bridge than {sites[0].name}")
        assignment[site.name] = []
        for slot in range(per_site):
            port = free_port(address, kind=socket.SOCK_DGRAM)
            while port in taken:
                port = free_port(address, kind=socket.SOCK_DGRAM)
            taken.add(port)
            # Consecutive sample printers per site, so neighbouring sites differ.
            recording = recordings[(number * per_site + slot) % len(recordings)]
            device = FleetDevice(recording.name[: -len(RECORDING_SUFFIX)], address, port)
            data_dir = _device_dir(devices_dir, device)
            data_dir.mkdir(parents=True)
            link_or_copy(recording, data_dir / f"{COMMUNITY}{RECORDING_SUFFIX}")
            assignment[site.name].append(device)
    argv = [str(responder_path()), "--log-level", "error", "--cache-dir",
            str(work_dir / "cache")]
    for devices in assignment.values():
        for device in devices:
            # No v3 users: the agents read v2c `public`, and each user costs start-up time.
            argv += ["--v3-engine-id", "auto", "--data-dir", str(_device_dir(devices_dir, device)),
                     "--agent-udpv4-endpoint", device.endpoint()]
    process = start_process("snmpsim for the sites", argv, log_path=work_dir / "snmpsim.log",
                            env={"SNMPSIM_ALLOW_ROOT": "true"})
    try:
        for devices in assignment.values():
            for device in devices:
                wait_until(functools.partial(device_answers, device), timeout=STARTUP_TIMEOUT,
                           what=f"printer {device.recording} at {device.endpoint()}",
                           interval=0.2, alive=process.alive, log_path=process.log_path)
        yield {name: tuple(SitePrinter(d.endpoint(), serials[d.recording]) for d in devices)
               for name, devices in assignment.items()}
    finally:
        process.stop()
