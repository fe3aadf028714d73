"""Start and stop every service of this process: inventory, payment, shipping, the controls
(faults, stock) and the sweeper that settles what dead attempts left unsettled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from nats import micro
from nats.aio.client import Client
from nats.micro.request import Request
from nats.micro.service import EndpointStats, Service, ServiceConfig
from temporalio.common import MetricMeter

from engine.config import Settings
from engine.metrics import ServiceMetrics
from engine.models import SERVICE_ENDPOINTS, ServiceName, ServiceReply

from . import replies
from .effects import SWEEP_SECONDS, Effects
from .endpoint import Endpoint, Handler, Tasks
from .faults import CONTROL_SERVICE, FAULTS_ENABLED_METADATA, FAULTS_SUBJECT, FaultsCache, FaultsControl
from .inventory import Inventory
from .payment import Payment
from .shipping import Shipping
from .stock_control import STOCK_SUBJECT, StockControl
from .store import prepare_state

log = logging.getLogger(__name__)

VERSION = "1.0.0"


class RunningServices:
    """The micro services of this process; `stop()` once, before closing the connection."""

    def __init__(
        self,
        services: list[Service],
        tasks: Tasks,
        faults: FaultsCache,
        endpoints: list[Endpoint],
        sweeper: asyncio.Task[None] | None = None,
    ) -> None:
        self.services = services
        self.endpoints = endpoints
        self._tasks = tasks
        self._faults = faults
        self._sweeper = sweeper
        self._stopped = False

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking requests, let those in progress finish (up to `timeout`), stop the watch."""
        if self._stopped:
            return
        self._stopped = True
        for service in self.services:
            try:
                await service.stop()
            except Exception:
                log.warning("could not stop a service cleanly", exc_info=True)
        await self._tasks.stop(timeout)
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self._faults.stop()


async def start_services(nc: Client, settings: Settings, *, meter: MetricMeter | None = None) -> RunningServices:
    """Serve every endpoint on `nc` (queue groups: any number of processes share the load);
    `meter` counts their requests and shows the faults in force (None: nothing counted)."""
    js = nc.jetstream()
    buckets = await prepare_state(js, settings)
    metrics = ServiceMetrics(meter or MetricMeter.noop)
    faults = FaultsCache(buckets.faults, enabled=settings.faults_enabled, metrics=metrics)
    await faults.start()
    tasks = Tasks()
    effects = Effects(buckets)
    inventory, payment, shipping = Inventory(effects), Payment(effects), Shipping(effects)
    handlers: dict[ServiceName, Handler] = {
        ServiceName.INVENTORY: inventory.reserve,
        ServiceName.RESTOCK: inventory.restock,
        ServiceName.PAYMENT: payment.charge,
        ServiceName.REFUND: payment.refund,
        ServiceName.SHIPPING: shipping.ship,
    }
    services: list[Service] = []
    endpoints: list[Endpoint] = []
    try:
        for service_name, names in SERVICE_ENDPOINTS.items():
            group = [
                Endpoint(name, handlers[name], faults, tasks, settings.nats.max_request_bytes, metrics)
                for name in names
            ]
            service = await micro.add_service(
                nc,
                ServiceConfig(
                    name=service_name,
                    version=VERSION,
                    description=f"checkout-ops {service_name} service",
                    stats_handler=_stats_handler(group),
                ),
            )
            services.append(service)
            for endpoint in group:
                await service.add_endpoint(
                    name=endpoint.name.value, subject=endpoint.name.subject, handler=endpoint.on_request
                )
            endpoints.extend(group)
        controls = {
            FAULTS_SUBJECT: FaultsControl(buckets.faults, enabled=settings.faults_enabled).handle,
            STOCK_SUBJECT: StockControl(effects).handle,
        }
        services.append(await _control_service(nc, controls, faults_enabled=settings.faults_enabled))
    except BaseException:
        await RunningServices(services, tasks, faults, endpoints).stop()
        raise
    await nc.flush()
    sweeper = asyncio.create_task(_sweep_forever(effects), name="effects-sweeper")
    return RunningServices(services, tasks, faults, endpoints, sweeper)


async def _sweep_forever(effects: Effects) -> None:
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            if settled := await effects.sweep():
                log.info("settled %d effects left by attempts that did not finish", settled)
        except Exception as error:  # NATS away for a moment: the next sweep tries again
            log.debug("sweep failed: %s", error)


def _stats_handler(group: list[Endpoint]) -> Callable[[EndpointStats], dict[str, int] | None]:
    by_name = {endpoint.name.value: endpoint for endpoint in group}

    def handler(stats: EndpointStats) -> dict[str, int] | None:
        endpoint = by_name.get(stats.name)
        return endpoint.counters.as_dict() if endpoint else None

    return handler


async def _control_service(
    nc: Client, controls: Mapping[str, Callable[[bytes], Awaitable[ServiceReply]]], *, faults_enabled: bool
) -> Service:
    config = ServiceConfig(
        name=CONTROL_SERVICE,
        version=VERSION,
        description="checkout-ops faults and stock control",
        metadata={FAULTS_ENABLED_METADATA: "true" if faults_enabled else "false"},  # in $SRV.INFO
    )
    service = await micro.add_service(nc, config)
    for subject, control in controls.items():

        async def handle(request: Request, control: Callable[[bytes], Awaitable[ServiceReply]] = control) -> None:
            try:
                reply = await control(request.data)
            except Exception as error:
                log.exception("%s failed", request.subject)
                reply = replies.transient(f"internal error: {type(error).__name__}", replies.CODE_INTERNAL)
            await request.respond(reply.model_dump_json().encode())

        await service.add_endpoint(name=subject.rsplit(".", 1)[-1], subject=subject, handler=handle)
    return service
