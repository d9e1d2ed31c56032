"""Time the agent's rollout to N network-namespace sites against a trivial play on the same sites.

    PYTHONPATH=tests .venv/bin/python bench/rollout/run.py --sites 10 [--profile]

Needs root (network namespaces) and sshd. In one run on one set of sites (harness.netns), over
real SSH with the repository's ansible.cfg (pipelining on):

    first     playbooks/deploy_dca.yml on fresh sites (wheelhouse copy, venv, start)
    rerun     the same again, nothing to change (the target: <= 2x the floor)
    floor     bench/rollout/trivial.yml, ping + one template, run twice; the second (unchanged)
              run is the floor

and prints the seconds and the ratios. The agents use a pre-issued identity and point at the
site's own loopback, where nothing listens; they are killed afterwards. `--profile` adds one
more unchanged re-run with the task_times callback (callback_plugins/) and prints its slowest tasks.
The controller wheelhouse is built once per run, outside the timings.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.netns import site_network
from kdfm_cloud.devstack.tls import make_server_tls
from roles.netns_rollout import Rollout
from roles.rolekit import REPO, ROLE, PlaybookResult, stop_agents, tree_version

TRIVIAL = "../bench/rollout/trivial.yml"
TARGET_RATIO = 2.0
# profile_tasks lives in ansible.posix, which ansible-core does not ship: our own equivalent.
PROFILE_ENV = {"ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "callback_plugins"),
               "ANSIBLE_CALLBACKS_ENABLED": "task_times"}


def timed(rollout: Rollout, playbook: str, env: dict[str, str] | None = None
          ) -> tuple[float, PlaybookResult]:
    start = time.monotonic()
    result = rollout.deploy(playbook=playbook, env=env, timeout=3600)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        print(result.output[-4000:], file=sys.stderr)
        raise SystemExit(f"{playbook} failed (exit {result.returncode})")
    return seconds, result


def slowest_tasks(output: str, count: int = 15) -> list[str]:
    """The task_times callback's lines (`task-time   1.23s  name`), slowest first."""
    return [line.removeprefix("task-time ") for line in output.splitlines()
            if line.startswith("task-time ")][:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--profile", action="store_true",
                        help="one more re-run with task_times; print the slowest tasks")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kdfm-bench-") as tmp:
        work = Path(tmp)
        version = tree_version()
        tls = make_server_tls(work / "identity", common_name="bench")
        identity = {"tenant": "bench", "agent_id": "bench", "ca_pem": tls.ca_cert.read_text(),
                    "cert_pem": tls.cert.read_text(), "key_pem": tls.key.read_text()}
        subprocess.run(["bash", str(ROLE / "files" / "build_wheelhouse.sh"), sys.executable,
                        str(REPO), str(work / "wh" / version), version], check=True)
        (work / "sites").mkdir()
        with site_network(args.sites, work_dir=work / "sites") as sites:
            rollout = Rollout(work / "rollout", {
                "dca_agent_wheelhouse_dir": str(work / "wh"), "dca_agent_version": version,
                "dca_agent_identity": identity, "dca_agent_gateway": "127.0.0.1:9",
                "dca_agent_snmp_targets": ["127.0.0.1:16100"],
                "dca_agent_service_manager": "none"})
            for site in sites:
                rollout.add(site)
            try:
                first, _ = timed(rollout, "deploy_dca.yml")
                rerun, result = timed(rollout, "deploy_dca.yml")
                changed = sum(r.changed for r in result.recap.values())
                trivial_first, _ = timed(rollout, TRIVIAL)
                floor, _ = timed(rollout, TRIVIAL)
                profile = None
                if args.profile:
                    _, profile = timed(rollout, "deploy_dca.yml", env=PROFILE_ENV)
            finally:
                stop_agents(rollout.state_dirs())
        print(f"sites={args.sites} first_s={first:.1f} rerun_s={rerun:.1f} "
              f"rerun_changed={changed} trivial_first_s={trivial_first:.1f} "
              f"floor_s={floor:.1f}")
        verdict = "met" if rerun / floor <= TARGET_RATIO else "MISSED"
        print(f"ratios: first/floor={first / floor:.1f} rerun/floor={rerun / floor:.2f} "
              f"(target <= {TARGET_RATIO:.1f}: {verdict})")
        if profile is not None:
            print("slowest tasks of an unchanged re-run (task_times):")
            for line in slowest_tasks(profile.output):
                print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
