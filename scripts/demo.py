"""`make demo`: the local cloud stack, a simulated printer site, an agent rolled out by Ansible.

up:   kdfm-cloud dev up -> simulated site (one printer per loopback address) -> tenant "demo" with a
      signed DPA -> one-time activation code -> ansible-playbook playbooks/deploy_dca.yml on
      inventories/demo (installs, enrolls and starts the agent) -> wait for the first uploads ->
      kdfm-cloud fleet devices / supplies.
down: remove the agent (playbooks/remove_dca.yml), stop the site and the stack, forget their state.

Everything it starts lives under .kdfm/ (the stack in .kdfm/dev, the default state dir of
`kdfm-cloud`, so `kdfm-cloud fleet devices` from the project root shows the demo fleet).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STATE = ROOT / ".kdfm"
DEV = STATE / "dev"
SITE = STATE / "site"
DEMO_VARS = STATE / "demo-vars.json"
TENANT = "demo"
UPLOAD_TIMEOUT_SECONDS = 300.0


def say(message: str) -> None:
    print(f"\n== {message}", flush=True)


def run(*argv: str | Path, capture: bool = False, env: dict[str, str] | None = None,
        check: bool = True) -> str:
    """Run a step; a failure stops the demo with the step's own output."""
    result = subprocess.run([str(a) for a in argv], cwd=ROOT, text=True, check=False,
                            env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE if capture else None)
    if check and result.returncode != 0:
        raise SystemExit(f"demo: `{' '.join(str(a) for a in argv)}` failed "
                         f"(exit {result.returncode})")
    return result.stdout or ""


def harness_env() -> dict[str, str]:
    return {"PYTHONPATH": str(ROOT / "tests"), "SNMPSIM_ALLOW_ROOT": "true"}


def fleet(*what: str, capture: bool = False) -> str:
    return run(BIN / "kdfm-cloud", "fleet", *what, "--state-dir", DEV, capture=capture)


def fleet_json(what: str) -> list[dict[str, object]]:
    out = fleet(what, "--tenant", TENANT, "--limit", "100000", "--json", capture=True)
    return list(json.loads(out or "[]"))


def wait_for_first_cycle(targets: int) -> int:
    """Wait until a reading of every target arrived; answers how many readings did."""
    deadline = time.monotonic() + UPLOAD_TIMEOUT_SECONDS
    readings = 0
    while time.monotonic() < deadline:
        readings = len(fleet_json("readings"))
        if readings >= targets:
            break
        print(f"   {readings}/{targets} readings uploaded so far ...", flush=True)
        time.sleep(5)
    return readings


def up() -> int:
    if DEV.exists() or SITE.exists():
        say("a previous demo is still up: stopping it first")
        down()
    STATE.mkdir(exist_ok=True)
    # The role builds a version's wheelhouse once; the demo must ship the tree as it is now.
    shutil.rmtree(STATE / "wheelhouse", ignore_errors=True)

    say("cloud stack: OpenBao (PKI), Mosquitto (TLS + WSS), gateway on SQLite")
    run(BIN / "kdfm-cloud", "dev", "up", "--state-dir", DEV)
    endpoints = json.loads((DEV / "endpoints.json").read_text())

    say("simulated customer site: one printer per loopback address (snmpsim, real recordings)")
    run(BIN / "python", "-m", "harness.site", "up", "--per-address", "--state-dir", SITE,
        env=harness_env())
    site = json.loads((SITE / "site.json").read_text())
    targets = [f"{d['address']}:{d['port']}" for d in site["devices"]]
    print(f"   {len(targets)} printers: {targets[0]} ... {targets[-1]}")

    say(f"tenant {TENANT!r} (EU region, data-processing agreement signed) and an activation code")
    run(BIN / "kdfm-cloud", "tenant", "create", TENANT, "--region", "eu-central",
        "--dpa-signed-by", "Demo Dealer", "--state-dir", DEV)
    out = run(BIN / "kdfm-cloud", "activation-code", "create", "--tenant", TENANT,
              "--state-dir", DEV, capture=True)
    code = out.strip().splitlines()[-1]

    say("rollout: ansible-playbook playbooks/deploy_dca.yml -i inventories/demo")
    # Agents log in to the broker with their certificate on its MQTT/TLS agents' listener.
    mqtt_host, _, mqtt_port = endpoints["mqtt_agents"].removeprefix("mqtts://").rpartition(":")
    variables = {
        "dca_agent_gateway": endpoints["gateway"],
        "dca_agent_ca_bundle": Path(endpoints["ca_bundle"]).read_text(),
        "dca_agent_activation_code": code,
        "dca_agent_mqtt_host": mqtt_host,
        "dca_agent_mqtt_transport": "mqtts8883",
        "dca_agent_mqtt_port": int(mqtt_port),
        "dca_agent_snmp_targets": targets,
        "dca_agent_read_interval_seconds": 60,
        "dca_agent_poll_interval_seconds": 30,
    }
    # The code is a secret: it goes to Ansible in a private file, never on a command line.
    fd = os.open(DEMO_VARS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(variables, handle)
    run(BIN / "ansible-playbook", "-i", "inventories/demo", "playbooks/deploy_dca.yml",
        "-e", f"@{DEMO_VARS}", env={"PATH": f"{BIN}:{os.environ.get('PATH', '')}"})

    say("waiting for the agent's first uploads")
    readings = wait_for_first_cycle(len(targets))
    devices = len(fleet_json("devices"))
    # Devices are keyed by serial number (else MAC): two recordings of one printer are one device.
    say(f"the demo fleet: {devices} printers from {readings} readings of {len(targets)} "
        "addresses: kdfm-cloud fleet devices")
    fleet("devices", "--tenant", TENANT)
    say("supplies, typed (no made-up numbers): kdfm-cloud fleet supplies")
    fleet("supplies", "--tenant", TENANT)
    print("\nThe stack, the site and the agent keep running; `make demo-down` stops them.")
    return 0 if readings >= len(targets) else 1


def down() -> int:
    env = {"PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    if DEMO_VARS.exists():
        run(BIN / "ansible-playbook", "-i", "inventories/demo", "playbooks/remove_dca.yml",
            "-e", f"@{DEMO_VARS}", env=env, check=False)
        DEMO_VARS.unlink()
    run(BIN / "python", "-m", "harness.site", "down", "--state-dir", SITE, env=harness_env(),
        check=False)
    run(BIN / "kdfm-cloud", "dev", "down", "--state-dir", DEV, check=False)
    # The next demo starts from an empty stack.
    for state in (DEV, SITE):
        shutil.rmtree(state, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down"])
    return up() if parser.parse_args().action == "up" else down()


if __name__ == "__main__":
    sys.exit(main())
