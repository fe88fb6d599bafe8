"""``atmsim certs generate`` as a user runs it: the demo CA and certificates under the data
directory, a tls.toml that turns mutual TLS on, and the whole demo over it."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from tests.test_cli import ATMSIM, _env


def test_generated_certificates_carry_the_demo_over_mutual_tls(data_dir: Path) -> None:
    env = _env(data_dir)
    made = subprocess.run(ATMSIM + ["certs", "generate"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    tls = data_dir / "tls"
    for name in ("ca.pem", "server.pem", "client.pem"):
        assert (tls / name).read_text().startswith("-----BEGIN CERTIFICATE-----")
    for name in ("ca-key.pem", "server-key.pem", "client-key.pem"):
        assert stat.S_IMODE((tls / name).stat().st_mode) == 0o600
    assert f"atmsim up --config {tls / 'tls.toml'}" in made.stdout

    again = subprocess.run(ATMSIM + ["certs", "generate"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 2 and "--force" in again.stderr
    assert again.stderr.count("\n") == 1 and "Traceback" not in again.stderr

    demo = subprocess.run(ATMSIM + ["demo", "--headless", "--config", str(tls / "tls.toml")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "526422******0010  00 approved" in demo.stdout

    # The same switch settings, an ATM side without its client certificate: refused.
    config = (tls / "tls.toml").read_text()
    no_client_cert = "\n".join(line for line in config.splitlines()
                               if not line.startswith(("tls_cert = \"" + str(tls / "client"),
                                                       "tls_key = \"" + str(tls / "client"))))
    (data_dir / "no-client-cert.toml").write_text(no_client_cert + "\n")
    refused = subprocess.run(ATMSIM + ["demo", "--headless", "--config",
                                       str(data_dir / "no-client-cert.toml")],
                             env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "client certificate" in refused.stderr and "Traceback" not in refused.stderr
