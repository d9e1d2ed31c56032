"""Real components for the tests: snmpsim, PostgreSQL, sshd in network namespaces.

Every launcher is a plain context manager usable outside pytest; tests/conftest.py only wraps
them in fixtures. Mosquitto and OpenBao launchers live in the product (kdfm_cloud.devstack)
because `kdfm-cloud dev up` starts them too.
"""
