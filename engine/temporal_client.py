"""The one place a Temporal Client is built (worker, CLI, dashboard, tests share it)."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from engine.config import MetricsSettings, TemporalSettings
from engine.errors import AccessDenied, ConfigError, Unreachable
from engine.metrics import prometheus_config


@cache
def runtime() -> Runtime:
    """The runtime of clients that serve no metrics (one per process)."""
    return Runtime(telemetry=TelemetryConfig(logging=_logging()))


def metrics_runtime(settings: MetricsSettings) -> Runtime:
    """A runtime whose Prometheus endpoint serves on `metrics.port`, for as long as it (and the
    clients and worker made with it) lives. Raises ConfigError when the port cannot be bound."""
    prometheus = prometheus_config(settings)
    if prometheus is None:
        return runtime()
    try:
        return Runtime(telemetry=TelemetryConfig(logging=_logging(), metrics=prometheus))
    except ValueError as error:
        why = str(error).rsplit(":", 1)[-1].strip() or type(error).__name__
        raise ConfigError(f"config key metrics.port: cannot serve metrics on {settings.bind_address} ({why})") from None


def _logging() -> LoggingConfig:
    """The SDK core's own warnings go to Python logging (`temporalio.core`), not straight to
    stderr, where they would write over the dashboard's screen."""
    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    return LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding)


def tls_config(settings: TemporalSettings) -> TLSConfig | bool:
    """False for plain TCP; True for TLS trusting the system's CAs; a TLSConfig for a CA, mTLS or a server name."""
    if not settings.uses_tls:
        return False
    if not (settings.tls_ca_file or settings.tls_cert_file or settings.tls_server_name):
        return True
    return TLSConfig(
        server_root_ca_cert=_read(settings.tls_ca_file, "tls_ca_file"),
        client_cert=_read(settings.tls_cert_file, "tls_cert_file"),
        client_private_key=_read(settings.tls_key_file, "tls_key_file"),
        domain=settings.tls_server_name or None,
    )


def _read(path: Path | None, key: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"config key temporal.{key}: cannot read {path} ({error.strerror})") from None


async def connect_temporal(settings: TemporalSettings, *, with_runtime: Runtime | None = None) -> Client:
    """Connect with the pydantic data converter, or raise Unreachable (AccessDenied for refused credentials).
    `with_runtime`: the SDK runtime to use (one that serves metrics), else the process's plain one."""
    try:
        return await Client.connect(
            settings.host,
            namespace=settings.namespace,
            data_converter=pydantic_data_converter,
            runtime=with_runtime or runtime(),
            tls=tls_config(settings),
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        )
    except RPCError as error:
        if error.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
            raise AccessDenied(
                f"Temporal at {settings.host} refused the credentials ({error.status.name.lower()})"
            ) from None
        raise _unreachable(settings, error) from None
    except (RuntimeError, OSError) as error:
        raise _unreachable(settings, error) from None


def _unreachable(settings: TemporalSettings, error: Exception) -> Unreachable:
    text = str(error).lower()
    if "after connection" in text and not settings.uses_tls:
        # The port took the connection, then did not speak Temporal's gRPC: another program holds it.
        return Unreachable(
            f"Temporal at {settings.host}: something else answers there, not a Temporal frontend"
            " (or one that wants TLS: temporal.tls); set TEMPORAL_HOST to the Temporal server, or free the port"
        )
    if "refused" in text:
        why = "connection refused"
    elif settings.uses_tls and any(word in text for word in ("tls", "certificate", "handshake")):
        why = "TLS handshake failed"
    else:
        why = type(error).__name__
    return Unreachable(
        f"Temporal at {settings.host} is unreachable ({why}): start `checkout worker`, or set TEMPORAL_HOST"
    )
