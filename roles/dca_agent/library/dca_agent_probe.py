#!/usr/bin/python
"""Ansible module of the dca_agent role: everything the role checks on a site, in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: dca_agent_probe
short_description: Look at many paths of a site at once (read-only)
description:
  - One round trip instead of one stat per path and item, so that an unchanged re-run of the
    role costs little more than a trivial play.
options:
  paths:
    description: Paths to look at; each answers exists, isdir, mode, link target and sha1.
    type: list
    elements: str
    default: []
  list_dirs:
    description: Directories whose subdirectory names are answered (missing ones as empty).
    type: list
    elements: str
    default: []
  pid_file:
    description: The agent's pid file; answers whether that pid is a running kdfm-agent.
    type: str
    default: ""
"""

RETURN = r"""
paths:
  description: Path -> {exists, isdir, mode (octal string), link (target or null), sha1 (regular
    files, else null)}.
  type: dict
  returned: always
dirs:
  description: Directory -> sorted names of its subdirectories.
  type: dict
  returned: always
agent_running:
  description: Whether pid_file names a live process whose command line runs kdfm_agent.
  type: bool
  returned: always
"""

import hashlib  # noqa: E402 - Ansible modules document themselves first
import os  # noqa: E402
import stat  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

MAX_HASHED_BYTES = 1 << 20


def _look(path):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False, "isdir": False, "mode": None, "link": None, "sha1": None}
    link = os.readlink(path) if stat.S_ISLNK(info.st_mode) else None
    try:
        target = os.stat(path)
    except FileNotFoundError:
        # A dangling link: it exists, but what it points at does not.
        target = info
    sha1 = None
    if stat.S_ISREG(target.st_mode) and target.st_size <= MAX_HASHED_BYTES:
        with open(path, "rb") as handle:
            sha1 = hashlib.sha1(handle.read()).hexdigest()  # noqa: S324 - Ansible's checksum
    return {"exists": True, "isdir": stat.S_ISDIR(target.st_mode),
            "mode": f"{stat.S_IMODE(target.st_mode):04o}", "link": link, "sha1": sha1}


def _subdirs(path):
    try:
        return sorted(e.name for e in os.scandir(path) if e.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _agent_running(pid_file):
    # The same observation `kdfm-agent ctl status` makes; only a positive answer is trusted.
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as handle:  # noqa: UP031 - site Python
            return b"kdfm_agent" in handle.read()
    except (OSError, ValueError):
        return False


def main():
    module = AnsibleModule(
        argument_spec={"paths": {"type": "list", "elements": "str", "default": []},
                       "list_dirs": {"type": "list", "elements": "str", "default": []},
                       "pid_file": {"type": "str", "default": ""}},
        supports_check_mode=True)
    module.exit_json(changed=False,
                     paths={p: _look(p) for p in module.params["paths"]},
                     dirs={d: _subdirs(d) for d in module.params["list_dirs"]},
                     agent_running=bool(module.params["pid_file"])
                     and _agent_running(module.params["pid_file"]))


if __name__ == "__main__":
    main()
