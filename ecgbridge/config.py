"""ecgbridge's configuration: typed, strict, from one YAML file plus environment variables.

Precedence (last wins): the embedded `defaults.yaml`, the YAML file given with `--config`,
then environment variables `ECGBRIDGE__SECTION__KEY=value` (double underscores separate the
levels; names are case-insensitive; values are parsed as YAML scalars or flow lists, e.g.
`ECGBRIDGE__SCP__ALLOWED_CALLING_AES='[MOD1, MOD2]'`). Unknown keys are errors that name the
key; every error is raised as `ConfigError` naming the key and where it came from.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ecgbridge.errors import ConfigError
from ecgbridge.sweeps.config import SweepsConfig

ENV_PREFIX = "ECGBRIDGE__"
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII without backslash


def _check_ae_title(value: str) -> str:
    value = value.strip()
    if not _AE_TITLE.match(value):
        raise ValueError(f"AE title must be 1-16 printable ASCII characters, no backslash; found {value!r}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Strict):
    """TLS for one end of a DICOM association. Files are PEM.

    cert/key: our certificate and private key. ca: certificates we trust for the peer.
    require_client_cert: (SCP only) refuse peers that present no certificate signed by `ca`.
    verify_hostname: (destinations only) require the peer's certificate to name the host we
        dial (an IP SAN when dialling an address). The certificate is verified against `ca`
        either way; turn this off only for a PACS whose certificate names another host.
    """

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    require_client_cert: bool = False
    verify_hostname: bool = True

    @model_validator(mode="after")
    def _pairs(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key must be given together")
        if self.require_client_cert and self.ca is None:
            raise ValueError("require_client_cert needs ca (the CA that signs client certificates)")
        return self


class TimeoutsConfig(_Strict):
    """Association timeouts in seconds (s)."""

    acse_s: float = Field(default=30.0, gt=0)
    dimse_s: float = Field(default=60.0, gt=0)
    network_s: float = Field(default=60.0, gt=0)


class ScpConfig(_Strict):
    """The listening side: who may send us images, on which port, how many at once.

    max_pdu_size: largest PDU we accept, bytes (0: unlimited). Larger PDUs mean fewer
    Python-level reads per image: 1 MiB receives a 3 MB image faster than pynetdicom's 16 KiB.
    """

    ae_title: str = "ECGBRIDGE"
    host: str = "0.0.0.0"
    port: int = Field(default=11112, ge=0, le=65535)
    allowed_calling_aes: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list)
    tls: TlsConfig | None = None
    max_associations: int = Field(default=10, ge=1, le=1000)
    max_pdu_size: int = Field(default=1_048_576, ge=0)
    timeouts: TimeoutsConfig = Field(default_factory=lambda: TimeoutsConfig())
    max_pixels: int = Field(default=60_000_000, ge=1)
    min_free_bytes: int = Field(default=100 * 2**20, ge=0)

    _ae = field_validator("ae_title")(_check_ae_title)

    @field_validator("allowed_calling_aes")
    @classmethod
    def _aes(cls, values: list[str]) -> list[str]:
        return [_check_ae_title(v) for v in values]

    @field_validator("max_pdu_size")
    @classmethod
    def _pdu(cls, value: int) -> int:
        if value != 0 and value < 4096:
            raise ValueError(f"max_pdu_size must be 0 (unlimited) or >= 4096 bytes; found {value}")
        return value

    @model_validator(mode="after")
    def _tls_server(self) -> ScpConfig:
        if self.tls is not None and self.tls.cert is None:
            raise ValueError("tls needs cert and key for the server")
        if self.tls is not None and not self.tls.verify_hostname:
            raise ValueError("tls.verify_hostname is for destinations (we dial a host); "
                             "the listener dials none: found false under scp.tls")
        return self


class StorageConfig(_Strict):
    """Where state lives. Unset folders default to folders under `state_dir`."""

    state_dir: Path = Path("var")
    spool: Path | None = None
    archive: Path | None = None
    out: Path | None = None
    quarantine: Path | None = None

    @property
    def spool_dir(self) -> Path:
        return self.spool or self.state_dir / "spool"

    @property
    def archive_dir(self) -> Path:
        return self.archive or self.state_dir / "archive"

    @property
    def out_dir(self) -> Path:
        return self.out or self.state_dir / "out"

    @property
    def quarantine_dir(self) -> Path:
        return self.quarantine or self.state_dir / "quarantine"

    @property
    def database(self) -> Path:
        return self.state_dir / "jobs.sqlite3"


class DestinationConfig(_Strict):
    """A PACS (or other C-STORE SCP) that receives our results."""

    ae_title: str
    host: str
    port: int = Field(ge=1, le=65535)
    tls: TlsConfig | None = None
    calling_ae_title: str | None = None

    _ae = field_validator("ae_title")(_check_ae_title)


class RoutingConfig(_Strict):
    """Destination name per calling AE title of the sender, else `default`; none: ./var/out."""

    by_calling_ae: dict[str, str] = Field(default_factory=dict)
    default: str | None = None


class WorkersConfig(_Strict):
    """Digitization workers: how many, images per batch, torch device, and isolation:
    "process" (default) runs each in its own process so the SCP never waits on it for the
    GIL; "thread" runs them in the service process (for tests and debugging). `nice` lowers
    worker processes' CPU priority so that receiving keeps answering fast while they work."""

    count: int = Field(default=1, ge=1, le=64)
    batch_size: int = Field(default=4, ge=1, le=256)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    poll_interval_s: float = Field(default=0.2, gt=0, le=60)
    isolation: Literal["process", "thread"] = "process"
    nice: int = Field(default=10, ge=0, le=19)


class ReviewConfig(_Strict):
    """When a result is held for a person to look at instead of being sent."""

    min_quality: float = Field(default=0.5, ge=0.0, le=1.0)
    hold_when_layout_unknown: bool = True
    send_held: bool = False


class RetryConfig(_Strict):
    """Outbox retries: delay = min(max_delay_s, base_delay_s * 2**(attempt-1)) * (1 +- jitter)."""

    max_attempts: int = Field(default=8, ge=1, le=1000)
    base_delay_s: float = Field(default=5.0, gt=0)
    max_delay_s: float = Field(default=600.0, gt=0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0)


class HttpConfig(_Strict):
    """The health and metrics endpoint (port 0: any free port)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class LoggingConfig(_Strict):
    """Log level, format (auto: JSON unless stderr is a terminal) and PHI in logs."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"
    phi: bool = False

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Settings(_Strict):
    """The whole configuration of one ecgbridge service."""

    scp: ScpConfig = Field(default_factory=lambda: ScpConfig())
    storage: StorageConfig = Field(default_factory=lambda: StorageConfig())
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    routing: RoutingConfig = Field(default_factory=lambda: RoutingConfig())
    workers: WorkersConfig = Field(default_factory=lambda: WorkersConfig())
    review: ReviewConfig = Field(default_factory=lambda: ReviewConfig())
    retry: RetryConfig = Field(default_factory=lambda: RetryConfig())
    http: HttpConfig = Field(default_factory=lambda: HttpConfig())
    logging: LoggingConfig = Field(default_factory=lambda: LoggingConfig())
    sweeps: SweepsConfig = Field(default_factory=lambda: SweepsConfig())

    @model_validator(mode="after")
    def _routes_exist(self) -> Settings:
        names = set(self.destinations)
        if self.routing.default is not None and self.routing.default not in names:
            raise ValueError(
                f"routing.default names destination {self.routing.default!r}; "
                f"configured destinations: {sorted(names)}"
            )
        for ae, name in self.routing.by_calling_ae.items():
            if name not in names:
                raise ValueError(
                    f"routing.by_calling_ae.{ae} names destination {name!r}; "
                    f"configured destinations: {sorted(names)}"
                )
        for index, folder in enumerate(self.sweeps.folders):
            if folder.destination is not None and folder.destination not in names:
                raise ValueError(
                    f"sweeps.folders.{index}.destination (folder {folder.name!r}) names "
                    f"destination {folder.destination!r}; configured destinations: "
                    f"{sorted(names)}"
                )
        return self


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, found {type(data).__name__}")
    return data


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Nested overrides from ECGBRIDGE__A__B=value; also key path -> variable name."""
    overrides: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, raw in sorted(environ.items()):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        if not all(parts):
            raise ConfigError(f"{name}: empty key segment in environment variable name")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{name}: value {raw!r} is not a YAML scalar or list: {exc}") from exc
        node = overrides
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: conflicts with another variable setting {part}")
        node[parts[-1]] = value
        origin[".".join(parts)] = name
    return overrides, origin


def _match_case(data: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Map lower-cased env keys onto existing keys case-insensitively (destination names)."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        existing = next((k for k in data if isinstance(k, str) and k.lower() == key), key)
        if isinstance(value, Mapping) and isinstance(data.get(existing), dict):
            out[existing] = _match_case(data[existing], value)
        else:
            out[existing] = value
    return out


def _format_error(err: ValidationError, origin: Mapping[str, str], source: str) -> str:
    lines = []
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        where = origin.get(key.lower(), source)
        found = item.get("input")
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        shown = "" if isinstance(found, (dict, list)) else f" (found {found!r})"
        lines.append(f"{key}: {message}{shown} [from {where}]")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def default_document() -> dict[str, Any]:
    """The embedded defaults as a plain mapping."""
    text = resources.files("ecgbridge").joinpath("defaults.yaml").read_text(encoding="utf-8")
    return _read_yaml(text, "defaults.yaml")


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load and validate settings: defaults, then `path` (YAML), then `environ` overrides.

    Raises ConfigError naming every offending key (e.g. "scp.port: ... [from ECGBRIDGE__SCP__PORT]").
    """
    environ = os.environ if environ is None else environ
    data = default_document()
    source = "defaults"
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        data = _deep_merge(data, _read_yaml(text, str(path)))
        source = str(path)
    overrides, origin = _env_overrides(environ)
    data = _deep_merge(data, _match_case(data, overrides))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, origin, source)) from exc
