"""The `checkout` command: dashboard, headless worker, and one-shot operations.

Textual is imported only when the dashboard opens, so a headless worker stays light.
Every user error ends as one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
import os
import re
import signal
import sys
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError
from rich.markup import escape

from engine.bench.programs import PROGRAMS
from engine.config import CONFIG_ENV, Settings, load_settings
from engine.connect import connect
from engine.errors import CheckoutError, ConfigError, InvalidInput, Unreachable, first_validation_error
from engine.models import (
    DEFAULT_RELEASE_RATE,
    MAX_RELEASE_RATE,
    PAUSABLE_STEPS,
    FaultSettings,
    OrderInput,
    OrderStatus,
    SagaState,
    ServiceName,
    parse_pausable_step,
    parse_service,
)
from tui import bench_report, printing, scenario_cli
from tui.config import CHECKOUT_COMMAND, dashboard_settings
from tui.format import money
from tui.guard import READ_ONLY_ENV, read_only_from_env, refuse_write_command

if TYPE_CHECKING:
    from engine.supervision import ServerEvent
    from tui.web import WebFlags

EXIT_COMPENSATED = 1
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what a shell reports for `ls` when `ls | head` closed its pipe


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument as InvalidInput (one line, exit code 2) instead of usage text and SystemExit."""

    def error(self, message: str) -> NoReturn:
        raise InvalidInput(f"{self.prog}: {message} (see --help)")


def _whole_number(text: str) -> int:
    """Digits only: int() would also take ' 5', '1_0' and other scripts' digits."""
    if not re.fullmatch(r"[0-9]{1,12}", text):
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:20]!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="checkout",
        description="Operate e-commerce checkout sagas on Temporal and NATS. With no command, opens the dashboard.",
    )
    config_help = f"YAML config file (default: configs/config.yaml; env {CONFIG_ENV})"
    parser.add_argument("--config", metavar="FILE", help=config_help)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the servers and worker do")
    parser.add_argument("--version", action="version", version=f"checkout {version()}")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="refuse every command that changes orders, stock or faults; the dashboard only watches",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    dashboard = commands.add_parser("dashboard", help="the operator dashboard (default)")
    dashboard.add_argument(
        "--attach", action="store_true", help="run no worker or services: observe and operate a cluster"
    )
    dashboard.add_argument(
        "--web", action="store_true", help="serve the dashboard to a browser (each tab its own dashboard)"
    )
    dashboard.add_argument(
        "--read-only",
        action="store_true",
        default=argparse.SUPPRESS,  # else it would overwrite the global --read-only
        help="watch only: every action that changes orders, stock or faults is gone",
    )
    dashboard.add_argument("--port", type=int, default=8000, help="with --web: the port (default: 8000)")
    dashboard.add_argument(
        "--host", default="127.0.0.1", help="with --web: the address (default: 127.0.0.1); others need TLS"
    )
    dashboard.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="with --web: the operator token, from FILE (default: dashboard.web_token, else a random one)",
    )
    dashboard.add_argument(
        "--read-only-token-file",
        type=Path,
        metavar="FILE",
        help="with --web: the read-only token (wall screens), from FILE (default: random)",
    )
    dashboard.add_argument(
        "--no-auth", action="store_true", help="with --web on loopback only: ask for no token (any local user)"
    )
    dashboard.add_argument("--tls-cert", type=Path, metavar="FILE", help="with --web: serve HTTPS, this certificate")
    dashboard.add_argument("--tls-key", type=Path, metavar="FILE", help="with --web: the certificate's private key")
    dashboard.add_argument(
        "--insecure-http",
        action="store_true",
        help="with --web on a non-loopback --host: allow plain HTTP (the token crosses the network in clear)",
    )

    worker = commands.add_parser("worker", help="headless worker and services, with embedded servers when needed")
    worker.add_argument(
        "--processes", type=int, default=1, metavar="N", help="run N worker processes on the task queue (default: 1)"
    )
    worker.add_argument(
        "--only",
        choices=["workflows", "services"],
        help="run only the Temporal worker, or only the services (default: both, in one process)",
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on http://<metrics.host>:PORT/metrics (default: metrics.port; 0: none)",
    )
    commands.add_parser("servers", help="only the embedded Temporal and NATS servers, until Ctrl-C")

    trigger = commands.add_parser("trigger", help="start one order and print its result")
    trigger.add_argument("--sku", default="golang-book", help="catalogue SKU (default: golang-book)")
    trigger.add_argument("--quantity", type=_whole_number, default=1, help="units to order (default: 1)")
    trigger.add_argument("--customer", help="customer id (default: dashboard.customer, customer-1)")
    trigger.add_argument("--order-id", help="order id (default: a new random id)")
    trigger.add_argument("--no-wait", action="store_true", help="start the order and return at once")
    trigger.add_argument("--json", action="store_true", help="print the final saga state as JSON")

    orders = commands.add_parser("orders", help="list orders, newest first")
    orders.add_argument("--status", type=str.upper, choices=[s.value for s in OrderStatus], help="only this status")
    orders.add_argument("--customer", help="only this customer's orders")
    orders.add_argument(
        "--since", metavar="WHEN", help="only orders started since: 2026-03-02, 2026-03-02T14:00, or 30m, 2h, 1d ago"
    )
    orders.add_argument("--limit", type=int, default=100, help="at most this many (default: 100)")
    orders.add_argument("--json", action="store_true", help="print JSON")

    show = commands.add_parser("show", help="the saga state of one order")
    show.add_argument("order_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON")

    cancel = commands.add_parser("cancel", help="cancel an order still in its hold window (compensates)")
    cancel.add_argument("order_id", metavar="ID")
    cancel.add_argument("--json", action="store_true", help="print JSON")

    terminate = commands.add_parser("terminate", help="UNSAFE: stop an order without compensation")
    terminate.add_argument("order_id", metavar="ID")
    terminate.add_argument("--reason", default="terminated by operator")

    stock = commands.add_parser("stock", help="show stock per SKU, or set or add units (an audited change)")
    stock.add_argument("action", nargs="?", default="show", choices=["show", "set", "add"])
    stock.add_argument("sku", nargs="?", metavar="SKU", help="with set and add: a catalogue SKU")
    stock.add_argument(
        "units", nargs="?", type=int, metavar="N", help="with set: the new level; with add: units (< 0 removes)"
    )
    stock.add_argument("--json", action="store_true", help="print JSON")

    audit = commands.add_parser("audit", help="check that no money or stock was lost; exit 1 on a discrepancy")
    audit.add_argument("--json", action="store_true", help="print the report as JSON")

    faults = commands.add_parser("faults", help="show, set or clear injected faults")
    faults.add_argument("action", nargs="?", default="show", choices=["show", "set", "clear"])
    faults.add_argument("service", nargs="?", help=f"with set: one of {', '.join(s.value for s in ServiceName)}")
    faults.add_argument(
        "assignments", nargs="*", metavar="KEY=VALUE", help=f"with set: {', '.join(FaultSettings.model_fields)}"
    )
    faults.add_argument("--json", action="store_true", help="print JSON")

    pausable = ", ".join(step.value for step in PAUSABLE_STEPS)
    pause = commands.add_parser(
        "pause", help="hold orders before a step (e.g. charge while the provider is down); no STEP: show paused steps"
    )
    pause.add_argument("step", nargs="?", metavar="STEP", help=f"one of {pausable}")
    pause.add_argument("--reason", default="", help="why, shown with every order that waits")
    pause.add_argument("--json", action="store_true", help="print JSON")

    resume = commands.add_parser("resume", help="resume a paused step: its waiting orders go on at a controlled rate")
    resume.add_argument("step", metavar="STEP", help=f"one of {pausable}")
    resume.add_argument(
        "--rate",
        type=_rate,
        default=DEFAULT_RELEASE_RATE,
        metavar="N/s",
        help=f"orders released per second, with jitter (default: {DEFAULT_RELEASE_RATE:g})",
    )

    bench = commands.add_parser(
        "bench", help="sagas/s, latency and CPU per saga, against baseline programs on the same servers"
    )
    bench.add_argument("--orders", type=int, default=200, help="orders per round (default: 200)")
    bench.add_argument("--concurrency", type=int, default=20, help="orders in flight at once (default: 20)")
    bench.add_argument("--rate", type=float, help="instead: start this many orders per second (open loop)")
    bench.add_argument("--rounds", type=int, default=3, help="rounds per program, alternating (default: 3)")
    bench.add_argument("--warmup", type=int, default=20, help="unmeasured orders per program first (default: 20)")
    bench.add_argument(
        "--programs", default=",".join(PROGRAMS), help=f"comma-separated (default: {','.join(PROGRAMS)})"
    )
    bench.add_argument(
        "--latency-at-half", action="store_true", help="then checkout at half its maximum rate: p50/p95/p99 there"
    )
    bench.add_argument(
        "--worker-processes", type=int, default=1, metavar="N", help="checkout's worker runs N processes (default: 1)"
    )
    bench.add_argument("--services-apart", action="store_true", help="checkout's services in a process of their own")
    bench.add_argument("--attach", action="store_true", help="use the configured servers instead of private ones")
    bench.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    scenario_cli.add_parser(commands)
    for command in commands.choices.values():  # `checkout orders --config F` as well as `checkout --config F orders`
        command.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=config_help)
    return parser


def version() -> str:
    """The installed checkout-ops version (pyproject.toml's)."""
    try:
        return importlib.metadata.version("checkout-ops")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except InvalidInput as error:
        printing.print_error(error.message)
        return error.exit_code
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.config:
            if not Path(args.config).is_file():
                raise ConfigError(f"--config {args.config}: no such file")
            os.environ[CONFIG_ENV] = args.config  # and the processes it starts
        args.read_only = args.read_only or read_only_from_env()
        refuse_write_command(args)  # before anything connects: a refused command changes nothing
        if args.read_only:
            os.environ[READ_ONLY_ENV] = "1"  # and the processes it starts: the web dashboard's tabs
        settings = load_settings()
        command = args.command or "dashboard"
        if command == "dashboard":
            from tui.entry import run_dashboard  # Textual is loaded only there
            from tui.web import run_web

            if getattr(args, "web", False):
                return run_web(settings, _web_flags(args), attach=args.attach, read_only=args.read_only)
            if args.command == "dashboard":
                _no_web_flags(args)
            return run_dashboard(settings, attach=getattr(args, "attach", False), read_only=args.read_only)
        return asyncio.run(COMMANDS[command](settings, args))
    except CheckoutError as error:
        printing.print_error(error.message)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    except Exception as error:  # a bug, not a user error: one line, the traceback only with -v
        if args.verbose:
            raise
        printing.print_error(f"unexpected {type(error).__name__}: {error} (run with -v for details)")
        return 1


def _reader_went_away() -> int:
    """The reader of stdout closed it (`| head -1`): stop quietly, as `ls | head` does. What is
    still buffered goes nowhere, so the flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing to redirect
        pass
    finally:
        os.close(devnull)
    return EXIT_BROKEN_PIPE


def _web_flags(args: argparse.Namespace) -> WebFlags:
    from tui.web import WebFlags

    return WebFlags(
        host=args.host,
        port=args.port,
        token_file=args.token_file,
        read_only_token_file=args.read_only_token_file,
        no_auth=args.no_auth,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        insecure_http=args.insecure_http,
    )


def _no_web_flags(args: argparse.Namespace) -> None:
    """The web flags mean nothing without --web: a mistake, said before anything starts."""
    flags, defaults = vars(_web_flags(args)), vars(type(_web_flags(args))())
    given = [flag for flag, value in flags.items() if value != defaults[flag]]
    if given:
        raise InvalidInput(f"--{given[0].replace('_', '-')} needs --web")


# --- long-running commands ---------------------------------------------------------------


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    from engine.processes import STOP_GRACE_SECONDS
    from engine.stack import Stack
    from engine.worker_processes import WorkerProcesses

    if not 1 <= args.processes <= 64:
        raise InvalidInput("--processes must be between 1 and 64")
    if args.metrics_port is not None:
        if not 0 <= args.metrics_port <= 65535:
            raise InvalidInput("--metrics-port must be between 0 (none) and 65535")
        settings = settings.model_copy(
            update={"metrics": settings.metrics.model_copy(update={"port": args.metrics_port})}
        )
    only = ["--only", args.only] if args.only else []
    logs = Path(settings.embedded.data_dir) / "logs"
    more = WorkerProcesses(
        args.processes - 1,
        CHECKOUT_COMMAND,
        logs,
        only,
        faults_enabled=settings.faults_enabled,
        metrics_port=settings.metrics.port,
    )
    stack = Stack(
        settings, worker=args.only != "services", services=args.only != "workflows", helpers=more, supervise=True
    )
    stack.on_server_event(_print_server_event)
    printing.console.print("starting worker…")
    await stack.start()
    try:
        stack.start_helpers()
        started = ", ".join(stack.servers.started) or "none (using running servers)"
        printing.console.print(f"embedded servers: {started}")
        temporal, nats_ = settings.temporal, settings.nats
        printing.console.print(
            f"Temporal {temporal.host} · NATS {nats_.display_url} · task queue {temporal.task_queue}"
        )
        if url := stack.facade.web_ui_url():
            printing.console.print(f"Temporal Web UI: {url}")
        if settings.metrics.port:
            printing.console.print(f"metrics: http://{settings.metrics.bind_address}/metrics{_helper_ports(args)}")
        processes = f" in {args.processes} processes" if args.processes > 1 else ""
        runs = {
            None: "OrderWorkflow + inventory, payment, shipping services",
            "workflows": "OrderWorkflow",
            "services": "inventory, payment, shipping services",
        }[args.only]
        printing.console.print(f"[green]worker running{processes}[/]: {runs}. Ctrl-C stops.")
        await _until_signalled()
    finally:
        printing.console.print("stopping…")
        stopping = asyncio.ensure_future(stack.stop())
        done, _ = await asyncio.wait({stopping}, timeout=STOP_GRACE_SECONDS)
        if not done:
            # A worker whose servers went away (its parent dashboard killed outright, say) waits on
            # them for ever: leave rather than linger. Servers it started get SIGTERM as it exits.
            printing.print_error(f"not stopped within {STOP_GRACE_SECONDS:g}s (are the servers gone?): leaving")
            os._exit(1)
        stopping.result()
    return 0


def _helper_ports(args: argparse.Namespace) -> str:
    return f" (worker-2..{args.processes}: the next ports)" if args.processes > 1 else ""


def _print_server_event(event: ServerEvent) -> None:
    """`checkout worker`: a supervised embedded server exited or came back, in one printed line."""
    style = "yellow" if event.is_problem else "green"
    printing.console.print(f"[{style}]{escape(event.message)}[/]")


async def run_servers(settings: Settings, _args: argparse.Namespace) -> int:
    from engine.runtime import EmbeddedServers
    from engine.supervision import Supervisor

    servers = EmbeddedServers(settings)
    supervisor = Supervisor(servers, _print_server_event, settings.embedded.data_dir)
    await servers.start()
    try:
        if not servers.started:
            printing.console.print("nothing to start: both servers already answer (or embedded.mode is never)")
            return 0
        supervisor.start()
        printing.console.print(
            f"running: {', '.join(servers.started)} (data in {settings.embedded.data_dir}). Ctrl-C stops."
        )
        if "temporal" in servers.started:
            printing.console.print(f"Temporal Web UI: {settings.temporal.web_ui_url}")
        await _until_signalled()
    finally:
        await supervisor.stop()
        await servers.stop()
    return 0


# --- one-shot commands: they connect, never start servers ---------------------------------


async def run_trigger(settings: Settings, args: argparse.Namespace) -> int:
    item = settings.catalogue.get(args.sku)
    if item is None:
        raise InvalidInput(f"unknown SKU {args.sku[:64]!r}: one of {', '.join(settings.catalogue)}")
    try:
        order = OrderInput(
            order_id=uuid.uuid4().hex[:12] if args.order_id is None else args.order_id,
            customer_id=dashboard_settings(settings.dashboard).customer if args.customer is None else args.customer,
            items=[{"sku": args.sku, "quantity": args.quantity, "unit_price_cents": item.price_cents}],
        )
    except ValidationError as error:
        raise InvalidInput(f"invalid order: {first_validation_error(error)}") from None
    async with connect(settings) as ops:
        health = await ops.health()
        if not health.worker:
            raise Unreachable(
                f"no worker polls task queue {settings.temporal.task_queue}: start one with `checkout worker`"
            )
        await ops.submit(order)
        if not args.json:
            printing.console.print(
                f"order {order.order_id} started ({args.quantity} x {args.sku}, {money(order.total_cents)})"
            )
        if args.no_wait:
            if args.json:
                printing.print_json(order)
            return 0
        if not args.json:
            hold = f"hold {settings.saga.hold_seconds:g}s"
            printing.console.print(f"waiting for it to finish ({hold}; `checkout cancel {order.order_id}` cancels)…")
        state = await ops.result(order.order_id)
    _print_state(state, args.json)
    return 0 if state.status is OrderStatus.COMPLETED else EXIT_COMPENSATED


def parse_since(text: str, now: datetime) -> datetime:
    """`2026-03-02`, `2026-03-02T14:00` (local time unless it says otherwise), or `30m`, `2h`, `1d` ago."""
    relative = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if relative:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[relative.group(2)]
        return now - timedelta(**{unit: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"--since {text!r}: a date (2026-03-02), a time (2026-03-02T14:00) or 30m, 2h, 1d") from None
    return moment if moment.tzinfo else moment.astimezone()


async def run_orders(settings: Settings, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise InvalidInput("--limit must be at least 1")
    since = parse_since(args.since, datetime.now(UTC)) if args.since else None
    async with connect(settings) as ops:
        status = OrderStatus(args.status) if args.status else None
        orders = await ops.list_orders(status=status, limit=args.limit, customer=args.customer, since=since)
    if args.json:
        printing.print_json(orders)
    else:
        printing.print_orders(orders)
    return 0


async def run_show(settings: Settings, args: argparse.Namespace) -> int:
    async with connect(settings) as ops:
        state = await ops.state(args.order_id)
        url = ops.web_ui_url(args.order_id)
    _print_state(state, args.json)
    if not args.json and url:
        printing.console.print(f"history: {url}")
    return 0


async def run_cancel(settings: Settings, args: argparse.Namespace) -> int:
    async with connect(settings) as ops:
        answer = await ops.cancel(args.order_id)
    if args.json:
        printing.print_json(answer)
    elif answer.accepted:
        printing.console.print(f"[green]accepted[/]: {answer.reason}")
    else:
        printing.print_error(f"rejected: {answer.reason}")
    return 0 if answer.accepted else 1


async def run_terminate(settings: Settings, args: argparse.Namespace) -> int:
    async with connect(settings) as ops:
        await ops.terminate(args.order_id, args.reason)
    printing.console.print(f"order {args.order_id} terminated: no compensation ran")
    return 0


async def run_faults(settings: Settings, args: argparse.Namespace) -> int:
    if args.action != "set" and (args.service or args.assignments):
        raise InvalidInput(f"`faults {args.action}` takes no arguments")
    async with connect(settings) as ops:
        if args.action == "set":
            if not args.service:
                raise InvalidInput(f"faults set needs a service: one of {', '.join(s.value for s in ServiceName)}")
            service = parse_service(args.service)
            current = (await ops.faults()).get(service, FaultSettings())
            await ops.set_faults(service, apply_assignments(service, current, args.assignments))
        elif args.action == "clear":
            await ops.clear_faults()
        faults = await ops.faults()
    if args.json:
        printing.print_json(faults)
    else:
        printing.print_faults(faults)
    return 0


async def run_pause(settings: Settings, args: argparse.Namespace) -> int:
    if args.step is not None:
        parse_pausable_step(args.step)  # before connecting: bad input changes nothing
    async with connect(settings) as ops:
        if args.step is not None:
            pause = await ops.pause_step(args.step, args.reason)
            if not args.json:
                printing.console.print(
                    f"[yellow]{pause.step.value} paused[/]: orders wait before it "
                    f"(`checkout resume {pause.step.value}` releases them)"
                )
        pauses = await ops.pauses()
    if args.json:
        printing.print_json(pauses)
    elif args.step is None:
        printing.print_pauses(pauses)
    return 0


async def run_resume(settings: Settings, args: argparse.Namespace) -> int:
    step = parse_pausable_step(args.step)
    async with connect(settings) as ops:
        waiting = await ops.resume_step(step, args.rate)
    printing.console.print(f"[green]{step.value} resumed[/]: {waiting} waiting order(s) released at {args.rate:g}/s")
    return 0


def _rate(text: str) -> float:
    """`--rate 10` or `--rate 10/s`."""
    try:
        rate = float(text.strip().removesuffix("/s"))
    except ValueError:
        raise InvalidInput(f"--rate {text[:20]!r}: a number of orders per second, e.g. 10 or 10/s") from None
    if not 0 < rate <= MAX_RELEASE_RATE:
        raise InvalidInput(f"--rate must be more than 0 and at most {MAX_RELEASE_RATE:g} orders per second")
    return rate


async def run_stock(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "show":
        if args.sku is not None or args.units is not None:
            raise InvalidInput("`stock show` takes no arguments; `stock set SKU N` or `stock add SKU N` change it")
        async with connect(settings) as ops:
            snapshot = await ops.services_snapshot()
        if args.json:
            print(json.dumps(snapshot.stock, indent=2))
        else:
            printing.print_stock(snapshot.stock, settings.catalogue)
        return 0
    if args.sku is None or args.units is None:
        raise InvalidInput(
            f"stock {args.action} needs a SKU and a number, e.g. `checkout stock {args.action} golang-book 10`"
        )
    async with connect(settings) as ops:
        if args.action == "set":
            change = await ops.set_stock(args.sku, args.units)
        else:
            change = await ops.add_stock(args.sku, args.units)
    if args.json:
        printing.print_json(change)
    else:
        printing.console.print(f"{change.sku}: {change.units} units ({change.delta:+d})")
    return 0


async def run_audit(settings: Settings, args: argparse.Namespace) -> int:
    async with connect(settings) as ops:
        report = await ops.audit()
    if args.json:
        printing.print_json(report)
    else:
        printing.print_audit(report)
    return 0 if report.clean else 1


def apply_assignments(service: ServiceName, current: FaultSettings, assignments: list[str]) -> FaultSettings:
    if not assignments:
        raise InvalidInput("faults set needs KEY=VALUE, e.g. `checkout faults set payment decline_rate=1`")
    changes: dict[str, str] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or key not in FaultSettings.model_fields:
            raise InvalidInput(
                f"bad assignment {assignment!r}: use KEY=VALUE with KEY one of {', '.join(FaultSettings.model_fields)}"
            )
        changes[key] = value
    if "down" in changes:
        changes["down"] = changes["down"].lower() in ("1", "true", "yes", "on")  # type: ignore[assignment]
    try:
        return FaultSettings.model_validate({**current.model_dump(), **changes})
    except ValidationError as error:
        raise InvalidInput(f"{service.value}.{first_validation_error(error)}") from None


def _print_state(state: SagaState, as_json: bool) -> None:
    if as_json:
        printing.print_json(state)
    else:
        printing.print_state(state)


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "worker": run_worker,
    "servers": run_servers,
    "trigger": run_trigger,
    "orders": run_orders,
    "show": run_show,
    "cancel": run_cancel,
    "terminate": run_terminate,
    "faults": run_faults,
    "pause": run_pause,
    "resume": run_resume,
    "bench": bench_report.run_bench,
    "scenario": scenario_cli.run_scenario_command,
    "stock": run_stock,
    "audit": run_audit,
}


def entrypoint() -> None:
    """The console script. Leaves with os._exit once output is flushed: the Temporal client's
    Rust threads can abort a finalizing interpreter (sdk-python issue 300), which turned a
    finished command's exit code into SIGABRT."""
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said anyway
            pass
    os._exit(code)


if __name__ == "__main__":
    entrypoint()
