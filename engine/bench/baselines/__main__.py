"""Process entry points of the baselines; `checkout bench` starts and stops them.

    python -m engine.bench.baselines worker {minimal,naive,empty} --temporal HOST:PORT --task-queue Q \
        [--namespace NS] [--nats URL --subject PREFIX]
    python -m engine.bench.baselines responder --nats URL --subject PREFIX

Each runs until SIGTERM or SIGINT, then stops cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import nats
from nats.aio.msg import Msg
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from engine.bench.baselines import naive
from engine.bench.baselines.activities import SharedConnectionActivities
from engine.bench.baselines.workflows import EmptyWorkflow, TwoStepSaga

YES = b'{"ok": true, "code": "ok"}'


async def until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_worker(program: str, temporal: str, namespace: str, task_queue: str, url: str, subject: str) -> None:
    client = await Client.connect(temporal, namespace=namespace)
    nc = await nats.connect(url) if program == "minimal" else None
    if program == "empty":
        worker = Worker(client, task_queue=task_queue, workflows=[EmptyWorkflow])
    elif program == "naive":
        ported = naive.Activities(url, subject)
        activities = [ported.reserve, ported.charge, ported.restock, ported.refund]
        # nats-py imports aiohttp (for websockets) when it is installed, and the dashboard's web view
        # installs it: passed through, so that the port costs what it cost where the issue measured it.
        runner = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("aiohttp"))
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[naive.NaiveTwoStepSaga],
            activities=activities,
            workflow_runner=runner,
        )
    else:
        assert nc is not None
        shared = SharedConnectionActivities(nc, subject)
        worker = Worker(client, task_queue=task_queue, workflows=[TwoStepSaga], activities=shared.all())
    async with worker:
        await until_signalled()
    if nc is not None:
        await nc.close()


async def run_responder(url: str, subject: str) -> None:
    """Answers yes to every request under `subject`: the services, minus everything they do."""
    nc = await nats.connect(url)

    async def answer(msg: Msg) -> None:
        await msg.respond(YES)

    await nc.subscribe(f"{subject}.*", queue="responder", cb=answer)
    await nc.flush()
    await until_signalled()
    await nc.drain()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m engine.bench.baselines", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker")
    worker.add_argument("program", choices=["minimal", "naive", "empty"])
    worker.add_argument("--temporal", required=True, metavar="HOST:PORT")
    worker.add_argument("--namespace", default="default")
    worker.add_argument("--task-queue", required=True)
    responder = commands.add_parser("responder")
    for command in (worker, responder):
        command.add_argument("--nats", default="nats://127.0.0.1:4222", metavar="URL")
        command.add_argument("--subject", default="bench", metavar="PREFIX", help="requests go to PREFIX.<step>")
    args = parser.parse_args()
    if args.command == "worker":
        asyncio.run(run_worker(args.program, args.temporal, args.namespace, args.task_queue, args.nats, args.subject))
    else:
        asyncio.run(run_responder(args.nats, args.subject))


if __name__ == "__main__":
    main()
