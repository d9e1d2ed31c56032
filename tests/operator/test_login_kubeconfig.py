"""The operator logs in with a kubeconfig client certificate (files or inline data) over real TLS.

The API server is kmock's emulator served by aiohttp's asyncio/OpenSSL server with an ssl context
that REQUIRES a client certificate from the test CA (conftest.py ``https_server_class``): every
request the operator makes (kopf's watches and status patches, and our KubeClient's Secrets)
crosses that TLS front, and a client without the certificate is refused at the handshake.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kopf
import pytest
from kdfm_cloud.devstack.openbao import Vault
from kdfm_operator import conditions as cond
from kdfm_operator.clients.kube import Connection, KubeClient
from kdfm_operator.context import OperatorContext
from kdfm_operator.errors import KubeApiError, KubeCredentialsError
from kdfm_operator.handlers.registry import connection_from_login, login_info
from kdfm_operator.settings import OperatorSettings

from .conftest import wait_for
from .resources import API, NS, broker_objects
from .tlsfront import ApiPki, stranger

Factory = Callable[..., Any]


def _login_from(path: Path, monkeypatch: pytest.MonkeyPatch) -> Connection:
    monkeypatch.setenv("KUBECONFIG", str(path))
    info = kopf.login_with_kubeconfig(settings=kopf.OperatorSettings())
    assert info is not None
    return connection_from_login(info)


def _messages(err: BaseException | None) -> str:
    """Every message in an exception's cause chain (kopf wraps the handler's error)."""
    parts = []
    while err is not None:
        parts.append(f"{type(err).__name__}: {err}")
        err = err.__cause__ or err.__context__
    return " <- ".join(parts)


# --- the kubeconfig is read into a Connection; bad credentials are named ---------------------


@pytest.mark.parametrize("form", ["paths", "inline"])
def test_kubeconfig_client_certificate_reaches_the_connection(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = ApiPki(tmp_path)
    conn = _login_from(pki.kubeconfig("https://127.0.0.1:1", form), monkeypatch)
    assert conn.has_client_certificate
    if form == "paths":
        assert conn.certificate_path == str(pki.admin_cert)
        assert conn.private_key_path == str(pki.admin_key)
        assert conn.ca_path == str(pki.ca_file)
    else:
        # kubeconfig's base64 is decoded to the PEM text ssl and kopf take.
        assert conn.certificate_data == pki.admin.cert_pem.decode()
        assert conn.private_key_data == pki.admin.key_pem.decode()
        assert conn.ca_data == pki.ca.cert_pem.decode()
    # The re-login path hands kopf the same credentials, and kopf can build TLS from them.
    info = login_info(conn)
    assert (info.certificate_path or info.certificate_data) is not None
    assert (info.private_key_path or info.private_key_data) is not None
    assert info.as_ssl_context() is not None


def test_missing_key_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = ApiPki(tmp_path)
    missing = tmp_path / "gone" / "admin.key"
    path = pki.kubeconfig(
        "https://127.0.0.1:1",
        "paths",
        user={"client-certificate": str(pki.admin_cert), "client-key": str(missing)},
    )
    with pytest.raises(KubeCredentialsError) as caught:
        _login_from(path, monkeypatch)
    assert str(missing) in str(caught.value)
    assert "client-key" in str(caught.value)
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("user", "named"),
    [
        ({"client-certificate-data": "not base64 at all!", "client-key-data": "eA=="}, "-data"),
        ({"client-certificate-data": base64.b64encode(b"hello").decode()}, "no PEM block"),
        ("cert-only", "client-key"),
        ("swapped-key", "do not load together"),
    ],
)
def test_broken_inline_credentials_are_named(
    user: Any, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = ApiPki(tmp_path)
    other_key = stranger(tmp_path)[1].key_pem
    if user == "cert-only":
        user = {"client-certificate-data": base64.b64encode(pki.admin.cert_pem).decode()}
    elif user == "swapped-key":
        user = {
            "client-certificate-data": base64.b64encode(pki.admin.cert_pem).decode(),
            "client-key-data": base64.b64encode(other_key).decode(),
        }
    path = pki.kubeconfig("https://127.0.0.1:1", "inline", user=user)
    with pytest.raises(KubeCredentialsError, match=named):
        _login_from(path, monkeypatch)


def test_inline_key_leaves_no_file_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = ApiPki(tmp_path / "pki")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    conn = pki.connection("https://127.0.0.1:1", "inline")
    assert conn.ssl_context.verify_mode.name == "CERT_REQUIRED"
    assert list(scratch.iterdir()) == []


# --- our KubeClient against the emulator behind the TLS front ---------------------------------


def test_client_certificate_over_tls(tmp_path: Path, api_emulator: Factory) -> None:
    pki = ApiPki(tmp_path)
    foreign_ca, intruder = stranger(tmp_path)
    intruder_cert, intruder_key = intruder.write(tmp_path, "intruder")
    foreign_ca_file = tmp_path / "foreign-ca.crt"
    foreign_ca_file.write_bytes(foreign_ca.cert_pem)

    async def scenario() -> None:
        async with api_emulator(OperatorSettings(), server_ssl=pki.server_context()) as (emu, url):
            assert url.startswith("https://")
            forms = {
                "paths": pki.connection(url, "paths", token="t0ken"),
                "inline": pki.connection(url, "inline", username="ops", password="pw"),
            }
            for form, conn in forms.items():
                async with KubeClient(conn) as kube:
                    await kube.check_access()
                    await kube.apply(
                        {
                            "apiVersion": "v1",
                            "kind": "ConfigMap",
                            "metadata": {"name": f"via-{form}", "namespace": NS},
                            "data": {"form": form},
                        }
                    )
                    got = await kube.get("v1", "ConfigMap", NS, f"via-{form}")
                    assert got is not None and got["data"] == {"form": form}
            auth = {
                value
                for request in emu
                for key, value in request.headers.items()
                if key.lower() == "authorization"
            }
            assert auth == {"Bearer t0ken", "Basic " + base64.b64encode(b"ops:pw").decode()}

            # No client certificate: the TLS front refuses; retrying cannot help.
            no_cert = Connection(server=url, ca_path=str(pki.ca_file), token="t0ken")
            async with KubeClient(no_cert) as kube:
                with pytest.raises(KubeCredentialsError, match="no client certificate"):
                    await kube.check_access()
                with pytest.raises(KubeApiError):
                    await kube.get("v1", "ConfigMap", NS, "via-paths")

            # A certificate from a CA the server does not trust: refused too, but we cannot
            # tell that from a restart, so it is retryable.
            foreign = Connection(
                server=url,
                ca_path=str(pki.ca_file),
                certificate_path=str(intruder_cert),
                private_key_path=str(intruder_key),
            )
            async with KubeClient(foreign) as kube:
                with pytest.raises(KubeApiError, match="client certificate") as caught:
                    await kube.check_access()
                assert caught.value.retryable

            # We do not trust the server's certificate: named, not retried.
            untrusted = pki.connection(url, "paths")
            untrusted = Connection(
                server=url,
                ca_path=str(foreign_ca_file),
                certificate_path=untrusted.certificate_path,
                private_key_path=untrusted.private_key_path,
            )
            async with KubeClient(untrusted) as kube:
                with pytest.raises(KubeCredentialsError, match="certificate-authority"):
                    await kube.check_access()

            # Verification off: the client certificate is still presented, the server accepts.
            insecure = Connection(
                server=url,
                insecure=True,
                certificate_path=str(pki.admin_cert),
                private_key_path=str(pki.admin_key),
            )
            async with KubeClient(insecure) as kube:
                await kube.check_access()

    asyncio.run(scenario())


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_final(status: int, tmp_path: Path, api_emulator: Factory) -> None:
    """The TLS handshake passes but the server does not accept the user (401, or 403 anonymous)."""
    pki = ApiPki(tmp_path)

    async def scenario() -> None:
        async with api_emulator(OperatorSettings(), server_ssl=pki.server_context()) as (emu, url):
            refusal = {"kind": "Status", "code": status, "message": "User cannot get path /api"}
            emu["get /api"] << status << refusal
            async with KubeClient(pki.connection(url, "paths", token="expired")) as kube:
                with pytest.raises(KubeCredentialsError) as caught:
                    await kube.check_access()
            assert f"answered {status}" in str(caught.value)
            assert "User cannot get path /api" in str(caught.value)

    asyncio.run(scenario())


# --- kopf with the operator's registry, logged in through the TLS front ---------------------


@pytest.mark.vault
@pytest.mark.e2e
@pytest.mark.parametrize("form", ["paths", "inline", "relogin"])
def test_operator_reconciles_through_tls_front(
    form: str,
    vault: Vault,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_emulator: Factory,
    kopf_runner: Factory,
    quick_settings: Factory,
) -> None:
    """A VaultCertificate (real OpenBao) becomes a Secret written through the TLS front.

    paths/inline: kopf's login reads the kubeconfig; relogin: the context already holds the
    connection (the path every re-login takes) and the kubeconfig is absent.
    """
    pki = ApiPki(tmp_path)
    settings = quick_settings()
    token_secret, certificate = broker_objects(vault)[:2]

    async def scenario() -> None:
        async with api_emulator(settings, server_ssl=pki.server_context()) as (_, url):
            if form == "relogin":
                monkeypatch.delenv("KUBECONFIG", raising=False)
                ctx = OperatorContext(settings=settings, connection=pki.connection(url, "inline"))
            else:
                monkeypatch.setenv("KUBECONFIG", str(pki.kubeconfig(url, form)))
                ctx = OperatorContext(settings=settings)
            async with (
                kopf_runner(ctx) as operator,
                KubeClient(pki.connection(url, "paths")) as kube,
            ):
                await kube.apply(token_secret)
                await kube.apply(certificate)
                name = certificate["metadata"]["name"]

                async def issued() -> Any:
                    assert not operator.done(), _messages(operator.exception())
                    secret = await kube.get("v1", "Secret", NS, certificate["spec"]["secretName"])
                    obj = await kube.get(API, "VaultCertificate", NS, name)
                    ready = cond.find(((obj or {}).get("status") or {}).get("conditions"), "Ready")
                    if secret and ready and ready["status"] == "True":
                        return secret
                    return None

                secret = await wait_for("the Secret and Ready=True", issued)
                assert secret["type"] == "kubernetes.io/tls"
                assert base64.b64decode(secret["data"]["tls.crt"]).startswith(b"-----BEGIN")
                assert ctx.connection is not None and ctx.connection.has_client_certificate

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ("no-cert", "presents no client certificate"),
        ("missing-key", "gone/admin.key cannot be read"),
    ],
)
def test_operator_stops_with_a_clear_login_error(
    form: str,
    named: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_emulator: Factory,
    kopf_runner: Factory,
    quick_settings: Factory,
) -> None:
    """A kubeconfig that cannot work stops kopf, its reason recorded, instead of kopf waiting."""
    pki = ApiPki(tmp_path)
    settings = quick_settings()

    async def scenario() -> None:
        async with api_emulator(settings, server_ssl=pki.server_context()) as (emu, url):
            if form == "missing-key":
                user = {
                    "client-certificate": str(pki.admin_cert),
                    "client-key": str(tmp_path / "gone" / "admin.key"),
                }
                path = pki.kubeconfig(url, "paths", user=user)
            else:
                path = pki.kubeconfig(url, form)
            monkeypatch.setenv("KUBECONFIG", str(path))
            ctx = OperatorContext(settings=settings)
            async with kopf_runner(ctx) as operator:
                done, _ = await asyncio.wait({operator}, timeout=60)
                assert done, "kopf kept running with credentials the server refuses"
                # kopf ends for want of credentials; the reason is what the handler recorded.
                assert isinstance(operator.exception(), kopf.LoginError)
                assert ctx.login_error is not None and named in ctx.login_error
            assert ctx.connection is None
            # Refused at the TLS handshake or before: not one request reached the emulator.
            assert list(emu) == []

    asyncio.run(scenario())


def test_connection_refuses_path_and_data_together(tmp_path: Path) -> None:
    pki = ApiPki(tmp_path)
    with pytest.raises(KubeCredentialsError, match="client-key and client-key-data"):
        Connection(
            server="https://127.0.0.1:1",
            private_key_path=str(pki.admin_key),
            private_key_data=pki.admin.key_pem.decode(),
        )


def test_run_command_exits_naming_the_login_problem(tmp_path: Path) -> None:
    # `kdfm-operator run` as a platform team starts it: the kubeconfig names a key file that is
    # not there; the command ends at once with status 1 and says which file, not only kopf's
    # "Ran out of valid credentials".
    pki = ApiPki(tmp_path)
    missing = tmp_path / "gone" / "admin.key"
    path = pki.kubeconfig(
        "https://127.0.0.1:1",
        "paths",
        user={"client-certificate": str(pki.admin_cert), "client-key": str(missing)},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env["KUBECONFIG"] = str(path)
    done = subprocess.run(
        [sys.executable, "-m", "kdfm_operator.cli", "run"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()
    assert any(line.startswith("kdfm-operator: login failed") and str(missing) in line
               for line in last), done.stderr[-2000:]
