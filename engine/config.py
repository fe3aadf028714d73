"""Typed configuration: `configs/config.yaml`, overridden by the environment.

Precedence, highest first: `TEMPORAL_HOST` / `NATS_URL`, then `CHECKOUT_<SECTION>__<KEY>`
variables, then the YAML file (`CHECKOUT_CONFIG`, else `configs/config.yaml` when it
exists), then the defaults below.
"""

from __future__ import annotations

import difflib
import os
import re
import typing
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import platformdirs
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from engine.errors import ConfigError
from engine.models import ID_PATTERN, SagaSettings

CONFIG_ENV = "CHECKOUT_CONFIG"
DEFAULT_CONFIG_FILE = Path("configs/config.yaml")


class _Section(BaseModel):
    """A section of the config: a key it does not know is a mistake (a typo would else be ignored)."""

    model_config = ConfigDict(extra="forbid")


class TemporalSettings(_Section):
    host: str = Field(
        "localhost:7233",
        pattern=r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$",
    )
    """gRPC address of the Temporal frontend, `host:port` (env `TEMPORAL_HOST`)."""
    namespace: str = "default"
    """Temporal namespace the orders live in."""
    task_queue: str = Field("ORDER_QUEUE", min_length=1)
    """Task queue the worker polls and orders are started on."""
    ui_port: int = Field(0, ge=0, le=65535)
    """Port of the embedded server's Web UI; 0 means the gRPC port + 1000 (8233)."""
    ui_url: str = ""
    """Web UI address of a server that is not embedded (e.g. http://localhost:8080); empty: host:port+1000."""
    api_key: SecretStr | None = None
    """API key sent with every call, as Temporal Cloud uses (turns TLS on)."""
    tls: bool = False
    """Connect with TLS, trusting the system's CAs (implied by `api_key` and the `tls_*` keys)."""
    tls_ca_file: FilePath | None = None
    """PEM file of the CA that signed the server's certificate (instead of the system's CAs)."""
    tls_cert_file: FilePath | None = None
    """PEM client certificate for mTLS (with `tls_key_file`)."""
    tls_key_file: FilePath | None = None
    """PEM private key of `tls_cert_file`."""
    tls_server_name: str = ""
    """Name to expect in the server's certificate when it differs from the host (SNI)."""

    _empty_is_unset = field_validator("api_key", mode="before")(lambda value: None if value == "" else value)

    @model_validator(mode="after")
    def _cert_with_key(self) -> TemporalSettings:
        _require_pair("temporal", self.tls_cert_file, self.tls_key_file)
        return self

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls or self.api_key or self.tls_ca_file or self.tls_cert_file or self.tls_server_name)

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    @property
    def hostname(self) -> str:
        return self.host.rsplit(":", 1)[0].strip("[]")

    @property
    def web_ui_port(self) -> int:
        return self.ui_port or self.port + 1000

    @property
    def web_ui_url(self) -> str:
        """Where the Web UI of this Temporal is expected: `ui_url`, else the embedded server's address."""
        return self.ui_url.rstrip("/") if self.ui_url else f"http://{self.hostname}:{self.web_ui_port}"


_NATS_URL = re.compile(r"^(nats|tls)://([^@/\s]+@)?[A-Za-z0-9.\-\[\]:_]+:\d{1,5}$")


def split_servers(url: str) -> list[str]:
    """The URLs in `url`, comma-separated; a comma counts only before a scheme (a password may hold one)."""
    return [part.strip() for part in re.split(r",(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)", url)]


def redact_url(url: str) -> str:
    """`url` with the secret part of its credentials hidden: `nats://alice:***@host:4222`, or
    `nats://***@host:4222` for a token. Works on malformed URLs too, for error messages."""
    shown = []
    for server in split_servers(url):
        scheme, sep, rest = server.partition("://") if "://" in server else ("", "", server)
        if "@" in rest:
            userinfo, _, host = rest.rpartition("@")
            user, colon, _ = userinfo.partition(":")
            rest = f"{user}:***@{host}" if colon else f"***@{host}"
        shown.append(f"{scheme}{sep}{rest}")
    return ",".join(shown)


class NatsSettings(_Section):
    url: str = "nats://localhost:4222"
    """NATS server URL, or the comma-separated URLs of a cluster's servers (env `NATS_URL`)."""
    user: str = ""
    """User name (with `password`)."""
    password: SecretStr | None = None
    """Password of `user`."""
    token: SecretStr | None = None
    """Authentication token."""
    creds_file: FilePath | None = None
    """A `.creds` file (user JWT and nkey seed), as NATS accounts issue them."""
    nkey_seed_file: FilePath | None = None
    """A file holding a user nkey seed (`SU...`)."""
    tls_ca_file: FilePath | None = None
    """PEM file of the CA that signed the server's certificate (turns TLS on)."""
    tls_cert_file: FilePath | None = None
    """PEM client certificate, for servers that verify clients (with `tls_key_file`)."""
    tls_key_file: FilePath | None = None
    """PEM private key of `tls_cert_file`."""
    replicas: int = Field(1, ge=1, le=5)
    """Copies JetStream keeps of the KV buckets and the events stream (3 on a 3-node cluster)."""
    request_timeout_seconds: float = Field(2.0, gt=0, le=60)
    """How long an activity waits for a service reply before counting a transient error."""
    max_request_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024)
    """Requests larger than this are answered with `bad_request`."""
    events_max_age_hours: float = Field(24.0, gt=0)
    """How long step events stay in the JetStream stream."""
    records_ttl_hours: float = Field(168.0, ge=1)
    """How long a service request's record is kept: it must outlive the longest saga, compensation
    retries included, or a very late retry could apply again. Default: 7 days."""

    _empty_is_unset = field_validator("password", "token", mode="before")(lambda value: None if value == "" else value)

    @field_validator("url")
    @classmethod
    def _urls(cls, url: str) -> str:
        servers = split_servers(url)
        for server in servers:
            if not _NATS_URL.match(server):
                raise PydanticCustomError(
                    "nats_url",
                    "{server} is not a NATS URL like nats://host:4222 (several: comma-separated)",
                    {"server": redact_url(server)[:100]},
                )
        return ",".join(servers)

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> NatsSettings:
        ways = [
            name
            for name, given in (
                ("credentials in nats.url", self._url_credentials),
                ("nats.user", self.user),
                ("nats.token", self.token),
                ("nats.creds_file", self.creds_file),
                ("nats.nkey_seed_file", self.nkey_seed_file),
            )
            if given
        ]
        if len(ways) > 1:
            raise PydanticCustomError(
                "auth", "give one way to authenticate, not several: {ways}", {"ways": ", ".join(ways)}
            )
        if self.password and not self.user:
            raise PydanticCustomError("auth", "nats.password is set but nats.user is not", {})
        _require_pair("nats", self.tls_cert_file, self.tls_key_file)
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "url" else value

    @property
    def servers(self) -> list[str]:
        """Every configured server URL (one, or a cluster's)."""
        return split_servers(self.url)

    @property
    def display_url(self) -> str:
        """The URL(s) as they may be shown or logged: credentials hidden."""
        return redact_url(self.url)

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls_ca_file or self.tls_cert_file or any(s.startswith("tls://") for s in self.servers))

    @property
    def secured(self) -> bool:
        """Whether connecting needs credentials or TLS, which an embedded server has not."""
        return self.uses_tls or bool(
            self.user or self.token or self.creds_file or self.nkey_seed_file or self._url_credentials
        )

    @property
    def _url_credentials(self) -> bool:
        return any("@" in server for server in self.servers)

    @property
    def port(self) -> int:
        """Port of the first server."""
        return int(self.servers[0].rsplit(":", 1)[1])

    @property
    def hostname(self) -> str:
        """Host of the first server."""
        return self.servers[0].split("://", 1)[1].rsplit(":", 1)[0].rsplit("@", 1)[-1].strip("[]")


def _require_pair(section: str, cert: Path | None, key: Path | None) -> None:
    if (cert is None) != (key is None):
        given, missing = ("tls_cert_file", "tls_key_file") if cert else ("tls_key_file", "tls_cert_file")
        raise PydanticCustomError(
            "tls_pair",
            "{section}.{given} needs {section}.{missing}",
            {"section": section, "given": given, "missing": missing},
        )


class EmbeddedMode(StrEnum):
    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("checkout-ops", appauthor=False))


NATS_MONITOR_OFFSET = 4000  # nats-server's defaults: clients on 4222, monitoring on 8222


class EmbeddedSettings(_Section):
    mode: EmbeddedMode = EmbeddedMode.AUTO
    """auto: start a local server when nothing answers; always: insist on starting; never: only connect."""
    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where embedded servers keep their SQLite file, JetStream store and logs."""
    startup_timeout_seconds: float = Field(30.0, gt=0, le=600)
    """How long to wait for an embedded server to answer after starting it."""
    durable: bool = True
    """Embedded servers put every write on disk before acknowledging it (JetStream
    `sync_interval: always`, SQLite `synchronous=full`), so a power cut loses nothing that
    was acknowledged. False: the servers' faster defaults, which a power cut or an OS crash
    can roll back by seconds (JetStream) or by the last commits (SQLite)."""
    nats_monitor_port: int = Field(0, ge=-1, le=65535)
    """Port of the embedded nats-server's monitoring endpoint (`/varz`, `/jsz`), on its
    loopback address; 0: the client port + 4000 (8222 beside 4222, nats-server's own pair),
    left out when that port is taken; -1: none."""

    def monitor_port_for(self, client_port: int) -> int:
        """The monitoring port to ask for beside `client_port`; 0 for none."""
        if self.nats_monitor_port == -1:
            return 0
        if self.nats_monitor_port:
            return self.nats_monitor_port
        derived = client_port + NATS_MONITOR_OFFSET
        return derived if derived <= 65535 else 0


class FaultInjectionSettings(_Section):
    enabled: bool | None = None
    """Whether this process's services apply injected faults and take changes to them. Unset: on
    when this process may start embedded servers (a developer machine), off with `embedded.mode:
    never` (a cluster)."""


class MetricsSettings(_Section):
    port: int = Field(0, ge=0, le=65535)
    """Port of this process's Prometheus endpoint (`/metrics`): the Temporal SDK's metrics and
    checkout's own. 0: none. Each worker process serves its own (`checkout worker --processes`:
    the helpers take the next ports)."""
    host: str = Field("127.0.0.1", pattern=r"^[A-Za-z0-9.\-:]+$")
    """Address the endpoint binds to; `0.0.0.0` lets a Prometheus on another machine scrape it."""

    @property
    def bind_address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class RetrySettings(_Section):
    initial_interval_seconds: float = Field(0.5, gt=0, le=60)
    """First backoff after a transient failure."""
    backoff_coefficient: float = Field(2.0, ge=1, le=10)
    """Each backoff is the previous one times this."""
    maximum_interval_seconds: float = Field(5.0, gt=0, le=600)
    """Longest backoff between attempts of a forward step."""
    maximum_attempts: int = Field(4, ge=1, le=100)
    """Attempts of a forward step before it counts as failed (`retries_exhausted`)."""
    compensation_maximum_interval_seconds: float = Field(10.0, gt=0, le=600)
    """Longest backoff between attempts of a compensation, which retries until it succeeds."""


class SagaTimingSettings(_Section):
    hold_seconds: float = Field(10.0, ge=0, le=86_400)
    """The cancellable hold between charge and ship (a durable timer)."""
    step_timeout_seconds: float = Field(5.0, gt=0, le=600)
    """Start-to-close timeout of one attempt of a step."""


class CatalogueItem(_Section):
    name: str
    """Display name."""
    price_cents: int = Field(ge=0)
    """Unit price in cents."""
    stock: int = Field(ge=0)
    """Initial stock, set when the inventory has no entry for the SKU yet."""


def _default_catalogue() -> dict[str, CatalogueItem]:
    return {
        "golang-book": CatalogueItem(name="Golang Book", price_cents=3999, stock=100),
        "python-book": CatalogueItem(name="Python Book", price_cents=4599, stock=100),
        "mechanical-keyboard": CatalogueItem(name="Mechanical Keyboard", price_cents=12900, stock=25),
        "usb-cable": CatalogueItem(name="USB-C Cable", price_cents=999, stock=500),
    }


class Settings(BaseSettings):
    """The root of checkout-ops configuration."""

    model_config = SettingsConfigDict(
        env_prefix="CHECKOUT_",
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    nats: NatsSettings = Field(default_factory=NatsSettings)
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)
    saga: SagaTimingSettings = Field(default_factory=SagaTimingSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    faults: FaultInjectionSettings = Field(default_factory=FaultInjectionSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    catalogue: dict[str, CatalogueItem] = Field(default_factory=_default_catalogue)
    dashboard: dict[str, Any] = Field(default_factory=dict)
    """Dashboard settings (key map, refresh); read by the `tui` package."""

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The dashboard section is a plain dict here (the `tui` package types it): its secrets
        (`web_token`, `web_read_only_token`) are hidden as SecretStr hides the others."""
        for name, value in super().__repr_args__():
            if name == "dashboard" and isinstance(value, dict):
                value = {key: "**********" if _is_secret_key(key) else item for key, item in value.items()}
            yield name, value

    @field_validator("catalogue")
    @classmethod
    def _skus_are_identifiers(cls, catalogue: dict[str, CatalogueItem]) -> dict[str, CatalogueItem]:
        import re

        for sku in catalogue:
            if not re.match(ID_PATTERN, sku):
                raise ValueError(f"SKU {sku!r} must match {ID_PATTERN}")
        return catalogue

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _SeedEnvSource(settings_cls), env_settings]
        config_file = config_path()
        if config_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @property
    def faults_enabled(self) -> bool:
        """`faults.enabled`, or its default: off only where no embedded server is ever started."""
        if self.faults.enabled is not None:
            return self.faults.enabled
        return self.embedded.mode is not EmbeddedMode.NEVER

    def connecting_only(self) -> Settings:
        """These settings for another process on this one's servers: `embedded.mode` never,
        `faults.enabled` as decided here (never alone would turn fault injection off for it),
        and no metrics endpoint (this process's `metrics.port` is its own)."""
        return self.model_copy(
            update={
                "embedded": self.embedded.model_copy(update={"mode": EmbeddedMode.NEVER}),
                "faults": FaultInjectionSettings(enabled=self.faults_enabled),
                "metrics": MetricsSettings(),
            }
        )

    def saga_settings(self) -> SagaSettings:
        return SagaSettings(
            hold_seconds=self.saga.hold_seconds,
            step_timeout_seconds=self.saga.step_timeout_seconds,
            **self.retry.model_dump(),
        )


class _SeedEnvSource(PydanticBaseSettingsSource):
    """`TEMPORAL_HOST` and `NATS_URL`, the variables the original project used."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if host := os.environ.get("TEMPORAL_HOST"):
            values["temporal"] = {"host": host}
        if url := os.environ.get("NATS_URL"):
            values["nats"] = {"url": url}
        return values


def config_path() -> Path | None:
    """The YAML file in use: `CHECKOUT_CONFIG`, else `configs/config.yaml` if it exists."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        return Path(named)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Load settings, or raise ConfigError with one line naming the bad key."""
    named = os.environ.get(CONFIG_ENV)
    if named and not Path(named).is_file():
        raise ConfigError(f"{CONFIG_ENV}: no such file: {named}")
    try:
        return Settings(**overrides)
    except ValidationError as error:
        errors = error.errors()
        # A misspelt key is the cause of the "field required" beside it: name it first.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        key = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"config key {key}: {unknown_key(Settings, first)}") from None
        raise ConfigError(
            f"config key {_ENV_NAMES.get(key, key)}: {first['msg']}{_shown(key, first.get('input'))}"
        ) from None
    except yaml.MarkedYAMLError as error:
        raise ConfigError(f"config file {config_path()}: {_yaml_problem(error)}") from None
    except Exception as error:  # an unreadable file and the like
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"config file {config_path()}: {first_line}") from None


def _yaml_problem(error: yaml.MarkedYAMLError) -> str:
    """`line 3, column 5: mapping values are not allowed here`: where PyYAML found the problem."""
    mark = error.problem_mark or error.context_mark
    problem = error.problem or error.context or "not valid YAML"
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def unknown_key(root: type[BaseModel], error: ErrorDetails) -> str:
    """What to say of a key no section has: `unknown key (did you mean saga.hold_seconds?)`, or the
    keys that section takes when none is near."""
    *parents, name = (str(part) for part in error["loc"])
    section = _section_at(root, parents)
    valid = list(section.model_fields) if section else []
    near = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    if near:
        return f"unknown key (did you mean {'.'.join([*parents, near[0]])}?)"
    return f"unknown key: {', '.join(valid)} are valid there" if valid else "unknown key"


def _section_at(root: type[BaseModel], path: list[str]) -> type[BaseModel] | None:
    """The model that holds the keys at `path` (a dict's keys, e.g. a catalogue's SKUs, are passed over)."""
    current: Any = root
    for part in path:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


_ENV_NAMES = {"temporal.host": "temporal.host (TEMPORAL_HOST)", "nats.url": "nats.url (NATS_URL)"}
_SECRET_KEYS = {"password", "token", "api_key"}


def _is_secret_key(key: str) -> bool:
    return any(secret in key.lower() for secret in _SECRET_KEYS)


def _shown(key: str, value: object) -> str:
    """How a rejected value is quoted in an error: never a secret, a URL without its credentials."""
    if isinstance(value, dict) or _is_secret_key(key.rsplit(".", 1)[-1]) or key == "nats.url":
        return ""  # nats.url: its message names the bad URL, redacted
    return f" (got {value!r})"
