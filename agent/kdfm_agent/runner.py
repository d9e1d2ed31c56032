"""The agent's `run` loop: read printers on schedule, spool, upload, poll, react to nudges.

Three loops share one `asyncio.TaskGroup`, which shutdown cancels:
    poll    every `poll.interval_seconds` (jittered), at once when a nudge arrives
    read    every `read.interval_seconds`, at once for a ReadNow task, each device in a slot
            of the adaptive limiter; counters carried over from the device's previous reading
    discover  every `read.discover_interval_seconds` (and for a DiscoverNow task): the printers
            in the target ranges, exclusions removed, are read from then on
    upload  whenever the spool holds readings; a reading leaves the spool only when the gateway
            acknowledged (or rejected) it, so a crash anywhere re-sends instead of losing
The MQTT listener runs beside them (paho's own thread) and only sets the nudge event.
The agent opens connections and never listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kdfm_proto.v1 import gateway_pb2

from kdfm_agent import __version__, counters, discovery, identity, model, wire
from kdfm_agent import credentials as creds
from kdfm_agent.devices import DeviceMemory, now
from kdfm_agent.errors import AgentError, ConfigError
from kdfm_agent.read_target import read_target
from kdfm_agent.settings import AgentSettings, ReadSettings
from kdfm_agent.snmp.pacing import AdaptiveLimiter
from kdfm_agent.spool import Spool, SpoolLimits
from kdfm_agent.targets import SendGuard, Target, expand_spec, parse_target, resolve
from kdfm_agent.uplink.errors import GatewayRefusedError, GatewayUnavailableError
from kdfm_agent.uplink.grpc import ClientTls, GatewayClient
from kdfm_agent.uplink.mqtt import NudgeListener

log = logging.getLogger(__name__)

ReadDevice = Callable[[Target, Sequence[creds.Credential]], Awaitable[model.Reading]]
"""Read one device with the credentials, in order; errors come back inside the Reading."""

CLOUD_CONFIG_FILE = "cloud-config.pb"
RENEW_CHECK_MAX_SECONDS = 3600.0
"""Longest sleep before looking at the certificate again (a clock jump is noticed within it)."""


def snmp_reader(read: ReadSettings, memory: DeviceMemory | None = None) -> ReadDevice:
    """The one seam to the SNMP side: `read_target` with what the memory knows of the device.

    The credential that answered a target last is tried first (a wrong community costs a full
    timeout per poll otherwise), and a fallback SNMP context that did not answer is skipped
    until `read.context_retry_seconds` have passed.
    """
    session = read.session()

    async def read_device(target: Target, credentials: Sequence[creds.Credential]
                          ) -> model.Reading:
        ordered = list(credentials)
        known = memory.credential(target.label) if memory is not None else None
        ordered.sort(key=lambda c: c.label != known)  # stable: the rest keep their order
        failed_at = memory.context_failed_at(target.label) if memory is not None else None
        try_context = failed_at is None or now() - failed_at >= read.context_retry_seconds
        # Each read may send only to the one device it was asked to read.
        result = await read_target(target, ordered, session, SendGuard.for_targets([target]),
                                   try_context=try_context)
        if memory is not None and result.credential is not None:
            if result.credential.label != known:
                memory.remember_credential(target.label, result.credential.label)
            for context in result.contexts:
                silent = context in result.silent
                if silent or failed_at is not None:  # only a change is written
                    memory.remember_context(target.label, context, now() if silent else None)
                if silent:
                    log.info("%s: context %r did not answer; skipped for %.0f s",
                             target.label, context, read.context_retry_seconds)
        return result.reading

    return read_device


@dataclass(frozen=True, slots=True)
class Uplink:
    """Who the agent is for the cloud and how it proves it."""

    tenant: str
    agent_id: str
    address: str
    tls: ClientTls
    state_dir: Path | None = None
    """Where the enrolled identity lives, which the agent renews; None: explicit files."""


def resolve_uplink(settings: AgentSettings) -> Uplink:
    """The identity from explicit files in the settings, else from the enrolled identity."""
    gateway = settings.gateway
    if gateway.cert_file or gateway.key_file:
        missing = [name for name in ("address", "ca_file", "cert_file", "key_file")
                   if not getattr(gateway, name)]
        if missing or not settings.tenant or not settings.agent_id:
            raise ConfigError("with gateway.cert_file set, also set tenant, agent_id and gateway."
                              f"{{address, ca_file, cert_file, key_file}} (missing: "
                              f"{', '.join(missing) or 'tenant/agent_id'})")
        try:
            tls = ClientTls(Path(gateway.ca_file).read_bytes(),
                            Path(gateway.cert_file).read_bytes(),
                            Path(gateway.key_file).read_bytes())
        except OSError as err:
            raise ConfigError(f"cannot read the gateway TLS files: {err}") from err
        return Uplink(settings.tenant, settings.agent_id, gateway.address, tls)
    enrolled = identity.load_identity(Path(settings.state_dir))
    if enrolled is None:
        raise ConfigError(f"the agent is not enrolled (no identity in {settings.state_dir}) and "
                          "gateway.cert_file is not set: run `kdfm-agent enroll` first")
    record = enrolled.record
    address = gateway.address or record.gateway
    if address == record.enrolled_via:
        # The enrolment port takes no client certificates; the gateway named the one that does.
        address = record.gateway
    return Uplink(settings.tenant or record.tenant, settings.agent_id or record.agent_id,
                  address,
                  ClientTls(enrolled.ca_bundle_pem, enrolled.certificate_chain_pem,
                            enrolled.key_pem), state_dir=Path(settings.state_dir))


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """A reason to read: a ReadNow task (`task_id`), the schedule or a discovery (None)."""

    task_id: str | None
    targets: tuple[str, ...] = ()
    """Which devices (as written, or their host); empty: every known device."""


def _wanted(known: Sequence[str], requests: Sequence[ReadRequest]) -> list[str]:
    """The known targets `requests` ask for, in the order they are known."""
    if not requests:
        return []
    if any(not r.targets for r in requests):
        return list(known)
    asked = {t for r in requests for t in r.targets}
    chosen = []
    for text in known:
        try:
            host = parse_target(text).host
        except ConfigError:
            host = text
        if text in asked or host in asked:
            chosen.append(text)
    return chosen


def jittered(seconds: float, fraction: float) -> float:
    """`seconds` shortened by a random part of up to `fraction`, so agents spread out."""
    return seconds * (1 - random.uniform(0, fraction))  # noqa: S311 - not for secrets


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """True when the event was set within `seconds`."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


class _Stopped(Exception):
    """Raised inside the TaskGroup to cancel every loop on shutdown."""


class Runner:
    """One running agent. `await Runner(settings, uplink).run(stop)` returns after `stop`."""

    def __init__(self, settings: AgentSettings, uplink: Uplink,
                 read_device: ReadDevice | None = None) -> None:
        self._settings = settings
        self._uplink = uplink
        self._read_device = read_device
        self._nudged = asyncio.Event()
        self._read_now = asyncio.Event()
        self._spooled = asyncio.Event()
        self._gateway_ok = asyncio.Event()
        # The first round reads everything at start-up.
        self._read_requests: list[ReadRequest] = [ReadRequest(None)]
        self._discover_now = asyncio.Event()
        self._discover_tasks: list[tuple[str, tuple[str, ...]]] = []
        self._discovered: tuple[str, ...] = ()
        self._memory: DeviceMemory | None = None
        self._limiter = AdaptiveLimiter(settings.read.pacing)
        self._exclusions = settings.read.exclusions
        self._listener: NudgeListener | None = None
        self._targets = settings.read.targets
        self._read_interval = settings.read.interval_seconds
        self._credentials = [(c.name, c.credential()) for c in settings.read.credentials]
        self._config_version = 0
        self._config_path = Path(settings.state_dir) / CLOUD_CONFIG_FILE
        self.polls = 0
        """Polls answered so far (for status and tests)."""

    async def run(self, stop: asyncio.Event,
                  ready: Callable[[], None] | None = None) -> None:
        """Run every loop until `stop` is set, then cancel them and close the connections.

        `ready` is called once the spool, the connections and the loops are set up."""
        settings, uplink = self._settings, self._uplink
        self._load_cloud_config()
        limits = SpoolLimits(settings.spool.max_readings, settings.spool.max_bytes)
        with Spool(settings.spool_path, limits) as spool:
            self._memory = memory = DeviceMemory(spool.connection)
            if self._read_device is None:
                self._read_device = snmp_reader(settings.read, memory)
            self._recall_discovery(memory)
            client = GatewayClient(
                uplink.address, uplink.tenant, uplink.agent_id, uplink.tls,
                timeout_seconds=settings.gateway.timeout_seconds,
                max_message_bytes=settings.gateway.max_message_bytes,
                server_name=settings.gateway.server_name, proxy=settings.gateway.proxy,
                agent_version=__version__)
            async with client as gateway, contextlib.AsyncExitStack() as stack:
                if settings.mqtt.host:
                    self._listener = await stack.enter_async_context(self._nudge_listener())
                log.info("agent %s/%s running: gateway %s, %d targets, spool %s (%d waiting)",
                         uplink.tenant, uplink.agent_id, uplink.address, len(self._targets),
                         settings.spool_path, len(spool))
                try:
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._poll_loop(gateway, spool))
                        group.create_task(self._read_loop(gateway, spool))
                        group.create_task(self._discover_loop(gateway, memory))
                        group.create_task(self._upload_loop(gateway, spool))
                        if uplink.state_dir is not None:
                            group.create_task(self._renew_loop(gateway, uplink.state_dir))
                        group.create_task(self._until(stop))
                        if ready is not None:
                            ready()
                except* _Stopped:
                    log.info("stopping: loops cancelled")

    @staticmethod
    async def _until(stop: asyncio.Event) -> None:
        await stop.wait()
        raise _Stopped

    def _nudge_listener(self) -> NudgeListener:
        mqtt = self._settings.mqtt
        password = ""
        if mqtt.password_file:
            try:
                password = Path(mqtt.password_file).read_text(encoding="utf-8").strip()
            except OSError as err:
                raise ConfigError(f"cannot read mqtt.password_file {mqtt.password_file}: "
                                  f"{err.strerror}") from err
        ca_file, cert_file, key_file = mqtt.ca_file or self._settings.gateway.ca_file, "", ""
        if self._uplink.state_dir is not None:
            # Enrolled: the broker knows the agent by its certificate (CN = agent id).
            paths = identity.IdentityPaths.of(self._uplink.state_dir)
            ca_file = ca_file or str(paths.ca_bundle)
            cert_file, key_file = str(paths.certificate), str(paths.key)
        return NudgeListener(mqtt, self._uplink.tenant, self._uplink.agent_id,
                             password=password, ca_file=ca_file, on_nudge=self._on_nudge,
                             cert_file=cert_file, key_file=key_file,
                             proxy=self._settings.gateway.proxy)

    def _on_nudge(self) -> None:
        log.info("nudged: polling now")
        self._nudged.set()

    def _backoff(self, failures: int) -> float:
        poll = self._settings.poll
        return min(poll.retry_max_seconds, poll.retry_min_seconds * 2.0 ** max(0, failures - 1))

    # -- certificate renewal --------------------------------------------------------------

    async def _renew_loop(self, gateway: GatewayClient, state_dir: Path) -> None:
        """Renew once two thirds of the certificate's lifetime have passed.

        A failed renewal retries with backoff; the current certificate stays in use until it
        expires, and a gateway or Vault that comes back is used at the next try.
        """
        failures = 0
        while True:
            current = identity.load_identity(state_dir)
            if current is None:
                log.error("no enrolled identity in %s any more: renewal stops", state_dir)
                return
            certificate = current.certificate
            now = datetime.now(UTC)
            due = identity.renewal_time(certificate)
            if now < due:
                await asyncio.sleep(min((due - now).total_seconds(), RENEW_CHECK_MAX_SECONDS))
                continue
            key = identity.new_private_key()
            try:
                response = await gateway.renew(identity.build_csr(key, socket.gethostname()))
                identity.save_renewed(state_dir, key,
                                      response.certificate_pem + response.chain_pem,
                                      response.ca_bundle_pem or current.ca_bundle_pem)
            except (GatewayUnavailableError, GatewayRefusedError, identity.IdentityError) as err:
                failures += 1
                wait = self._backoff(failures)
                left = (certificate.not_valid_after_utc - now).total_seconds()
                log.warning("certificate renewal failed (%s); the current certificate stays in "
                            "use (%.0f s left); retrying in %.0f s", err, left, wait)
                await asyncio.sleep(wait)
                continue
            failures = 0
            renewed = identity.load_identity(state_dir)
            if renewed is None:
                continue
            await gateway.use_tls(ClientTls(renewed.ca_bundle_pem,
                                            renewed.certificate_chain_pem, renewed.key_pem))
            if self._listener is not None:
                self._listener.reload_certificate()
            log.info("certificate renewed: serial %x valid until %s, next renewal at %s",
                     renewed.certificate.serial_number,
                     renewed.certificate.not_valid_after_utc.isoformat(),
                     identity.renewal_time(renewed.certificate).isoformat())

    # -- poll -----------------------------------------------------------------------------

    async def _poll_loop(self, gateway: GatewayClient, spool: Spool) -> None:
        poll = self._settings.poll
        interval, failures = poll.interval_seconds, 0
        while True:
            self._nudged.clear()
            try:
                response = await gateway.poll(self._config_version, spooled=len(spool))
            except GatewayUnavailableError as err:
                failures += 1
                self._gateway_ok.clear()
                wait = self._backoff(failures)
                log.warning("poll failed (%s); retrying in %.0f s", err, wait)
            except GatewayRefusedError as err:
                failures += 1
                wait = max(interval, self._backoff(failures))
                log.error("gateway refused the poll (%s); retrying in %.0f s", err, wait)
            else:
                failures = 0
                self.polls += 1
                self._gateway_ok.set()
                if response.next_poll_seconds:
                    interval = float(response.next_poll_seconds)
                if response.HasField("config"):
                    self._apply_config(response.config)
                for task in response.tasks:
                    await self._handle_task(gateway, task)
                wait = jittered(interval, poll.jitter_fraction)
            await _wait(self._nudged, wait)

    async def _handle_task(self, gateway: GatewayClient, task: gateway_pb2.Task) -> None:
        kind = task.WhichOneof("kind")
        log.info("task %s: %s", task.task_id, kind)
        if kind == "read_now":
            self._read_requests.append(ReadRequest(task.task_id, tuple(task.read_now.targets)))
            self._read_now.set()
        elif kind == "discover_now":
            self._discover_tasks.append((task.task_id, tuple(task.discover_now.targets)))
            self._discover_now.set()
        elif kind == "update_config":
            self._apply_config(task.update_config)
            await self._report(gateway, task.task_id, gateway_pb2.TASK_OUTCOME_SUCCEEDED,
                               f"configuration version {task.update_config.version} applied")
        else:
            await self._report(gateway, task.task_id, gateway_pb2.TASK_OUTCOME_REJECTED,
                               f"task kind {kind!r} is not supported by agent {__version__}")

    async def _report(self, gateway: GatewayClient, task_id: str, outcome: int,
                      message: str) -> None:
        try:
            await gateway.report(task_id, outcome, message)
        except (GatewayUnavailableError, GatewayRefusedError) as err:
            log.warning("could not report task %s: %s", task_id, err)

    def _load_cloud_config(self) -> None:
        try:
            config = gateway_pb2.AgentConfig.FromString(self._config_path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as err:
            log.warning("ignoring unreadable %s: %s", self._config_path, err)
            return
        self._apply_config(config, save=False)

    def _apply_config(self, config: gateway_pb2.AgentConfig, save: bool = True) -> None:
        if config.targets:
            if tuple(config.targets) != self._targets:
                self._discover_now.set()  # new ranges: find their printers now, not tomorrow
            self._targets = tuple(config.targets)
        if config.exclusions:
            self._exclusions = tuple(config.exclusions)
        if config.schedule.read_interval_seconds:
            self._read_interval = float(config.schedule.read_interval_seconds)
        if config.credentials:
            wanted = [c.name for c in config.credentials]
            known = dict(self._credentials)
            unknown = [n for n in wanted if n not in known]
            if unknown:
                log.warning("cloud configuration names unknown credentials %s", unknown)
            chosen = [(n, known[n]) for n in wanted if n in known]
            if chosen:
                self._credentials = chosen
        self._config_version = config.version
        log.info("configuration version %d: %d targets, read every %.0f s", config.version,
                 len(self._targets), self._read_interval)
        if save:
            # Write then rename: a crash leaves the old configuration or the new, never half.
            self._config_path.parent.mkdir(parents=True, exist_ok=True)
            partial = self._config_path.with_suffix(".partial")
            partial.write_bytes(config.SerializeToString())
            os.replace(partial, self._config_path)
        self._read_requests.append(ReadRequest(None))
        self._read_now.set()

    # -- read -----------------------------------------------------------------------------

    def _direct_targets(self) -> list[str]:
        """Targets read as given (hosts and addresses); ranges are discovered instead."""
        return [t for t in self._targets if expand_spec(t) is None]

    def _known_targets(self) -> list[str]:
        """Everything a full round reads: the direct targets, then the printers discovered."""
        return list(dict.fromkeys([*self._direct_targets(), *self._discovered]))

    async def _read_loop(self, gateway: GatewayClient, spool: Spool) -> None:
        while True:
            self._read_now.clear()
            requests, self._read_requests = self._read_requests, []
            known = self._known_targets()
            wanted = _wanted(known, requests)
            if wanted:
                readings = await self._read_round(wanted)
                self._spool(spool, readings)
            for request in requests:
                if request.task_id is None:
                    continue
                chosen = _wanted(known, [request])
                if chosen:
                    await self._report(gateway, request.task_id,
                                       gateway_pb2.TASK_OUTCOME_SUCCEEDED,
                                       f"read {len(chosen)} devices")
                else:
                    message = (f"none of {', '.join(request.targets)} is a known device"
                               if request.targets else "no targets configured or discovered")
                    await self._report(gateway, request.task_id,
                                       gateway_pb2.TASK_OUTCOME_FAILED, message)
            if self._read_requests:
                continue  # asked while this round ran: go again at once
            if await _wait(self._read_now, jittered(self._read_interval,
                                                    self._settings.poll.jitter_fraction)):
                continue
            self._read_requests.append(ReadRequest(None, ()))  # the scheduled full round

    def _spool(self, spool: Spool, readings: list[model.Reading]) -> None:
        memory = self._memory
        if memory is not None:
            # Counters are compared with the device's previous reading before they are spooled;
            # both land in one transaction, so a crash neither loses nor repeats a wrap.
            readings = [memory.carry_over(r) for r in readings]
        ids = " ".join(r.reading_id for r in readings)
        # Both lines, so a log reader can tell "maybe kept" from "surely kept".
        log.debug("spooling readings %s", ids)
        spool.put([wire.reading_to_pb(r) for r in readings],
                  also=None if memory is None
                  else lambda db: memory.remember_counters(db, readings))
        log.debug("spooled readings %s", ids)
        for reading in readings:
            for error in reading.errors:
                if error.code == counters.DECREASED:
                    log.warning("%s: %s", reading.target, error.message)
        self._spooled.set()

    async def _read_round(self, targets: Sequence[str]) -> list[model.Reading]:
        credentials = [c for _name, c in self._credentials]
        read_device = self._read_device
        assert read_device is not None  # set in run()
        excluded = await self._excluded()

        async def one(text: str) -> model.Reading | None:
            try:
                target = await resolve(parse_target(text, self._settings.read.port))
                if target.address in excluded:
                    log.info("target %s not read: %s is excluded", text, target.address)
                    return None
                # The limiter, not a fixed number, decides how many devices are read at once.
                async with self._limiter.slot():
                    return await read_device(target, credentials)
            except AgentError as err:
                log.warning("target %s not read: %s", text, err)
                return None

        results = await asyncio.gather(*(one(t) for t in targets))
        readings = [r for r in results if r is not None]
        log.info("read %d of %d targets (%d at once at most, limit now %d)", len(readings),
                 len(targets), self._limiter.peak, int(self._limiter.limit))
        return readings

    async def _excluded(self) -> set[str]:
        try:
            return {t.address for t in await discovery.expand(self._exclusions, (), 0)
                    if t.address is not None}
        except AgentError as err:
            log.warning("exclusions %s unusable (%s): nothing excluded", self._exclusions, err)
            return set()

    # -- discover -------------------------------------------------------------------------

    def _ranges(self) -> list[str]:
        return [t for t in self._targets if expand_spec(t) is not None]

    def _recall_discovery(self, memory: DeviceMemory) -> None:
        last = memory.discovery()
        if last is not None and set(last.specs) == set(self._ranges()):
            self._discovered = last.targets

    async def _discover_loop(self, gateway: GatewayClient, memory: DeviceMemory) -> None:
        interval = self._settings.read.discover_interval_seconds
        while True:
            self._discover_now.clear()
            tasks, self._discover_tasks = self._discover_tasks, []
            last = memory.discovery()
            ranges = self._ranges()
            due = bool(ranges) and (last is None or set(last.specs) != set(ranges)
                                    or now() - last.finished_at >= interval)
            if due or tasks:
                await self._discover(gateway, memory, ranges, tasks)
                last = memory.discovery()
            if self._discover_tasks:
                continue
            wait = interval if last is None else max(0.0, last.finished_at + interval - now())
            await _wait(self._discover_now, wait or interval)

    async def _discover(self, gateway: GatewayClient, memory: DeviceMemory, ranges: list[str],
                        tasks: list[tuple[str, tuple[str, ...]]]) -> None:
        # A DiscoverNow task without targets means the configured ones; with targets, those.
        specs = list(dict.fromkeys(
            [*ranges, *(s for _id, wanted in tasks for s in (wanted or self._targets))]))
        read = self._settings.read
        started = time.monotonic()
        try:
            targets = await discovery.expand(specs, self._exclusions, read.port)
            results = await discovery.scan(
                targets, [c for _name, c in self._credentials],
                read.session(),
                concurrency=read.concurrency)
        except AgentError as err:
            log.error("discovery of %s failed: %s", ", ".join(specs), err)
            for task_id, _wanted in tasks:
                await self._report(gateway, task_id, gateway_pb2.TASK_OUTCOME_FAILED,
                                   f"discovery failed: {err}")
            return
        found = [Target(r.address, r.port, r.address).label for r in results if r.printer]
        answered = sum(1 for r in results if r.answered)
        direct = self._direct_labels()
        in_ranges = [label for label in found if label not in direct]
        memory.remember_discovery(ranges, in_ranges, now())
        new = [label for label in in_ranges if label not in self._discovered]
        self._discovered = tuple(in_ranges)
        log.info("discovered %d printers (%d addresses answered of %d probed) in %.1f s: %s",
                 len(found), answered, len(targets), time.monotonic() - started,
                 " ".join(found) or "none")
        for task_id, _wanted in tasks:
            await self._report(gateway, task_id, gateway_pb2.TASK_OUTCOME_SUCCEEDED,
                               f"found {len(found)} printers among {len(targets)} addresses")
        if new:
            self._read_requests.append(ReadRequest(None, tuple(new)))
            self._read_now.set()

    def _direct_labels(self) -> set[str]:
        labels = set()
        for text in self._direct_targets():
            with contextlib.suppress(AgentError):
                labels.add(parse_target(text, self._settings.read.port).label)
        return labels

    # -- upload ---------------------------------------------------------------------------

    async def _upload_loop(self, gateway: GatewayClient, spool: Spool) -> None:
        failures = 0
        batch_size = self._settings.gateway.upload_batch_size
        while True:
            self._spooled.clear()
            batch = spool.oldest(batch_size)
            if not batch:
                await _wait(self._spooled, self._settings.spool.flush_interval_seconds)
                continue
            try:
                response = await gateway.upload(batch)
            except (GatewayUnavailableError, GatewayRefusedError) as err:
                failures += 1
                wait = self._backoff(failures)
                log.warning("upload of %d readings failed (%s); %d wait in the spool; "
                            "retrying in %.0f s", len(batch), err, len(spool), wait)
                # A successful poll means the gateway is back: try again at once.
                self._gateway_ok.clear()
                await _wait(self._gateway_ok, wait)
                continue
            failures = 0
            for rejected in response.rejected:
                log.error("gateway rejected reading %s for good: %s", rejected.reading_id,
                          rejected.reason)
            done = [*response.acknowledged, *(r.reading_id for r in response.rejected)]
            removed = spool.remove(done)
            log.info("uploaded %d readings (%d acknowledged, %d rejected)", removed,
                     len(response.acknowledged), len(response.rejected))
            if removed == 0:
                # Nothing the gateway answered matched the batch; do not spin on it.
                await _wait(self._spooled, self._backoff(1))
