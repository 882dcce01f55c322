"""Config: embedded defaults, YAML file, env overrides, strict validation naming the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from ecgbridge.config import load_settings
from ecgbridge.errors import ConfigError


def test_defaults_match_the_documented_ones() -> None:
    s = load_settings(environ={})
    assert (s.scp.ae_title, s.scp.port) == ("ECGBRIDGE", 11112)
    assert s.storage.state_dir == Path("var")
    assert s.storage.out_dir == Path("var/out")
    assert s.routing.default is None and s.destinations == {}
    assert s.logging.phi is False


def test_yaml_then_env_override(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "scp: {port: 104, allowed_calling_aes: [MOD1]}\n"
        "destinations:\n  Pacs: {ae_title: PACS, host: 10.0.0.5, port: 104}\n"
        "routing: {default: Pacs, by_calling_ae: {MOD1: Pacs}}\n"
    )
    s = load_settings(cfg, environ={
        "ECGBRIDGE__SCP__PORT": "11113",
        "ECGBRIDGE__DESTINATIONS__PACS__PORT": "4242",
        "ECGBRIDGE__SCP__ALLOWED_CALLING_AES": "[MOD1, MOD2]",
        "ECGBRIDGE__REVIEW__SEND_HELD": "true",
        "OTHER": "ignored",
    })
    assert s.scp.port == 11113
    assert s.destinations["Pacs"].port == 4242
    assert s.scp.allowed_calling_aes == ["MOD1", "MOD2"]
    assert s.review.send_held is True


@pytest.mark.parametrize(
    ("yaml_text", "env", "needle"),
    [
        ("scp: {prot: 1}\n", {}, "scp.prot: unknown key"),
        ("", {"ECGBRIDGE__SCP__PORT": "70000"}, "scp.port"),
        ("", {"ECGBRIDGE__SCP__PORT": "70000"}, "ECGBRIDGE__SCP__PORT"),
        ("routing: {default: nowhere}\n", {}, "routing.default names destination 'nowhere'"),
        ("scp: {ae_title: 'MUCH_TOO_LONG_AE_TITLE'}\n", {}, "scp.ae_title"),
        ("review: {min_quality: 1.5}\n", {}, "review.min_quality"),
        ("scp: {tls: {cert: a.pem}}\n", {}, "cert and key must be given together"),
        ("logging: {format: xml}\n", {}, "logging.format"),
        ("- a list\n", {}, "expected a mapping"),
        ("sweeps: {folders: [{name: scans, path: /srv/in, interval_s: 60, destination: pax}]}\n",
         {}, "sweeps.folders.0.destination (folder 'scans') names destination 'pax'"),
        ("scp: {tls: {cert: a.pem, key: a.key, verify_hostname: false}}\n", {},
         "tls.verify_hostname is for destinations"),
        ("destinations: {pacs: {ae_title: P, host: h, port: 104, tls: {verify_hostnme: false}}}\n",
         {}, "destinations.pacs.tls.verify_hostnme: unknown key"),
    ],
)
def test_invalid_config_names_the_key(
    tmp_path: Path, yaml_text: str, env: dict[str, str], needle: str
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ=env)
    assert needle in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.yaml", environ={})


def test_hospital_example_config_is_valid() -> None:
    example = Path(__file__).parents[2] / "deploy" / "hospital.yaml"
    s = load_settings(example, environ={})
    assert s.scp.tls is not None and s.scp.tls.require_client_cert
    assert set(s.routing.by_calling_ae.values()) == {"pacs"} and s.routing.default == "pacs"
    assert len(s.scp.allowed_calling_aes) >= 2


def test_destination_tls_verify_hostname_and_sweep_destination(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "destinations:\n"
        "  pacs: {ae_title: PACS, host: pacs.example, port: 2762, tls: {ca: ca.pem}}\n"
        "  lab: {ae_title: LAB, host: 10.0.0.7, port: 2762, tls: {verify_hostname: false}}\n"
        "sweeps: {folders: [{name: scans, path: /srv/in, interval_s: 60, destination: lab}]}\n"
    )
    s = load_settings(cfg, environ={"ECGBRIDGE__DESTINATIONS__PACS__TLS__VERIFY_HOSTNAME": "no"})
    pacs_tls, lab_tls = s.destinations["pacs"].tls, s.destinations["lab"].tls
    assert pacs_tls is not None and pacs_tls.verify_hostname is False  # from the environment
    assert lab_tls is not None and lab_tls.verify_hostname is False
    assert load_settings(cfg, environ={}).destinations["pacs"].tls.verify_hostname is True  # type: ignore[union-attr]
    assert s.sweeps.folders[0].destination == "lab"
