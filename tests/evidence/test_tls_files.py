"""`prometheus.tls` files are loaded when the settings load, as the first query would: a CA bundle or a
client certificate that OpenSSL cannot use is a one-line configuration error naming the key, not a
failure at the first query."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from receiver.config import load_settings
from receiver.errors import ConfigError
from tests.evidence.test_source_tls import self_signed


def tls_error(**tls: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, overrides={"prometheus": {"tls": tls}})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_pem_ca_bundle_and_client_certificate_load(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "prometheus")
    tls = {"ca_file": str(cert), "cert_file": str(cert), "key_file": str(key)}
    settings = load_settings(environ={}, overrides={"prometheus": {"tls": tls}})
    assert settings.prometheus.tls.ca_file == str(cert)


def test_a_ca_file_that_is_not_pem_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "ca.txt").write_text("not a certificate\n")
    message = tls_error(ca_file=str(tmp_path / "ca.txt"))
    assert message.startswith(
        f"prometheus.tls.ca_file: Value error, {str(tmp_path / 'ca.txt')!r} holds no PEM"
    )


def test_a_der_certificate_as_ca_file_is_refused(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path, "prometheus")
    der = tmp_path / "ca.der"
    subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER", "-out", der], check=True)
    assert tls_error(ca_file=str(der)).startswith("prometheus.tls.ca_file: Value error,")


def test_a_key_that_does_not_match_the_certificate_is_refused(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path, "prometheus")
    _, other_key = self_signed(tmp_path, "other")
    message = tls_error(cert_file=str(cert), key_file=str(other_key))
    assert message.startswith(f"prometheus.tls: Value error, cert_file {str(cert)!r} and key_file")
    assert "not a PEM certificate and its unencrypted private key" in message


def test_a_certificate_without_its_key_asks_for_key_file(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path, "prometheus")
    assert tls_error(cert_file=str(cert)).endswith("set key_file when the key is in a file of its own")


def test_a_key_file_without_cert_file_is_refused(tmp_path: Path) -> None:
    _, key = self_signed(tmp_path, "prometheus")
    assert "key_file is set without cert_file" in tls_error(key_file=str(key))


def test_check_config_refuses_a_ca_file_that_is_not_pem(tmp_path: Path) -> None:
    (tmp_path / "ca.txt").write_text("not a certificate\n")
    (tmp_path / "config.yml").write_text(f"prometheus:\n  tls:\n    ca_file: {tmp_path / 'ca.txt'}\n")
    result = subprocess.run(
        [sys.executable, "-m", "receiver", "check-config", f"--config.file={tmp_path / 'config.yml'}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[1].startswith("prometheus.tls.ca_file: Value error,")
