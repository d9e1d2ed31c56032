"""Time a rollout of the agent to N network-namespace sites, with and without SSH pipelining.

    PYTHONPATH=tests .venv/bin/python bench/rollout/run.py --sites 10

Needs root (network namespaces) and sshd. Prints one line per run: sites, pipelining, seconds of
the first (installing) and the second (idempotent) run. Traffic stays on the private bridge the
harness creates; the agents point at the site's own loopback and are killed afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.netns import site_network
from kdfm_cloud.devstack.tls import make_server_tls
from roles.rolekit import REPO, ROLE, SITE_PYTHON, run_playbook, stop_agents, tree_version


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kdfm-bench-") as tmp:
        work = Path(tmp)
        version = tree_version()
        tls = make_server_tls(work / "identity", common_name="bench")
        identity = {"tenant": "bench", "agent_id": "bench", "ca_pem": tls.ca_cert.read_text(),
                    "cert_pem": tls.cert.read_text(), "key_pem": tls.key.read_text()}
        subprocess.run(["bash", str(ROLE / "files" / "build_wheelhouse.sh"), sys.executable,
                        str(REPO), str(work / "wh" / version), version], check=True)
        for pipelining in (True, False):
            with site_network(args.sites, work_dir=work / f"sites-{pipelining}") as sites:
                hosts = {}
                for site in sites:
                    base = work / f"{site.name}-{pipelining}"
                    hosts[site.name] = {
                        "ansible_host": site.address, "ansible_user": site.user,
                        "ansible_ssh_private_key_file": str(site.key_path),
                        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no "
                                                   "-o UserKnownHostsFile=/dev/null",
                        "ansible_python_interpreter": SITE_PYTHON,
                        "dca_agent_prefix": str(base / "prefix"),
                        "dca_agent_state_dir": str(base / "state")}
                inventory = work / f"inv-{pipelining}" / "hosts.yml"
                inventory.parent.mkdir()
                inventory.write_text(json.dumps({"dca_sites": {"hosts": hosts}}))
                extra = {"dca_agent_wheelhouse_dir": str(work / "wh"), "dca_agent_version": version,
                         "dca_agent_python": SITE_PYTHON, "dca_agent_started": False,
                         "dca_agent_identity": identity, "dca_agent_gateway": "127.0.0.1:9"}
                env = {"ANSIBLE_PIPELINING": "1" if pipelining else "0"}
                times = []
                try:
                    for _ in range(2):
                        start = time.monotonic()
                        result = run_playbook("deploy_dca.yml", inventory, extra, env=env,
                                              timeout=3600)
                        times.append(time.monotonic() - start)
                        if result.returncode != 0:
                            print(result.output[-3000:], file=sys.stderr)
                            return 1
                finally:
                    stop_agents([Path(h["dca_agent_state_dir"]) for h in hosts.values()])
                print(f"sites={args.sites} pipelining={pipelining} "
                      f"install_s={times[0]:.1f} rerun_s={times[1]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
