"""`run`, `follow` and `save`: a run in the terminal, and a draft saved as a version."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from echo_orchestrator.cli.common import Commands, client_options, console_command, console_settings, innermost, report
from echo_orchestrator.settings import Settings


def _run(args: argparse.Namespace) -> int:
    from echo_orchestrator import console

    async def run(settings: Settings, out: Any) -> int:
        inputs = console.parse_inputs(args.input or [], args.input_file or [])
        return await console.run(args.workflow, inputs, server=args.server, settings=settings, console=out, output=args.output)

    return console_command("run", args, run)


def _follow(args: argparse.Namespace) -> int:
    from echo_orchestrator import console

    async def follow(settings: Settings, out: Any) -> int:
        return await console.follow(args.execution_id, server=args.server, settings=settings, console=out, output=args.output)

    return console_command("follow", args, follow)


def _save(args: argparse.Namespace) -> int:
    """Validate a workflow's stored draft fully and save it as its temp copy or a final version."""
    import anyio

    from echo_orchestrator.errors import NotValidated

    if args.version is not None and args.to == "temp":
        print("echo-orchestrator save: --version names a final version; a temp copy has none", file=sys.stderr)
        return 2

    async def save() -> tuple[str, str, str]:
        if args.server is not None:
            return await _save_remote(args.server, args.workflow, args.to, args.version)
        from echo_orchestrator.container import open_services

        async with open_services(console_settings(args), queued=False) as services:
            return await services.workflows.save_draft_as(args.workflow, args.to, args.version)

    try:
        workflow_id, version, path = anyio.run(save)
    except BaseException as exc:
        inner = innermost(exc)
        if isinstance(inner, NotValidated):
            for error in inner.errors:  # one line per problem, as `validate` prints them
                print(f"{args.workflow}: {error}")
            print(f"echo-orchestrator save: {inner.message}; nothing saved", file=sys.stderr)
            return 1
        return report("save", args, inner, debug=args.debug)
    what = "its temp copy" if args.to == "temp" else f"final version {version}"
    print(f"saved {workflow_id} as {what}: {path}")
    return 0


async def _save_remote(server: str, ref: str, stage: str, version: str | None) -> tuple[str, str, str]:
    """`save --server`: the same steps over the API (validate/final, then temp/save or final/save)."""
    from echo_orchestrator.errors import NotValidated
    from echo_orchestrator.run_sources import raise_for, server_client

    async with server_client(server) as client:
        draft = await client.get(f"/workflows/{ref}/draft")
        raise_for(draft)
        report = await client.post("/workflows/validate/final", json={"workflow": draft.json()})
        raise_for(report)
        if not report.json()["valid"]:
            raise NotValidated(ref, report.json()["errors"])
        validated = await client.get(f"/workflows/{ref}/draft")
        raise_for(validated)
        workflow = validated.json()
        if stage == "temp":
            saved = await client.post("/workflows/temp/save", json=workflow)
            raise_for(saved)
            return str(workflow["workflow_id"]), str(workflow["version"]), str(saved.json()["path"])
        body: dict[str, Any] = {"workflow": workflow, **({"version": version} if version else {})}
        saved = await client.post("/workflows/final/save", json=body)
        raise_for(saved)
        answer = saved.json()
        return str(answer["workflow_id"]), str(answer["version"]), str(answer["path"])


def add_commands(commands: Commands) -> None:
    run = commands.add_parser(
        "run",
        help="run a workflow (or graph:<name>) and show its progress; exit 0 completed, 1 failed, 3 cancelled, 4 paused",
    )
    run.add_argument("workflow", help="workflow slug or id, or graph:<name> for a plugin graph")
    run.add_argument("--input", action="append", metavar="KEY=VALUE", help="an input (JSON values allowed); repeatable")
    run.add_argument("--input-file", action="append", type=Path, metavar="FILE", help="a JSON object of inputs; repeatable")
    run.add_argument("--server", metavar="URL", help="run on this server (default: in this process, on the local storage)")
    run.add_argument("--storage", type=Path, help="storage folder for a local run (env ECHO_STORAGE_DIR, default ./storage)")
    run.add_argument("--plugins-dir", type=Path, help="drop-in plugins folder for a local run")
    client_options(run)
    run.set_defaults(handler=_run)

    save = commands.add_parser(
        "save",
        help="validate a workflow's draft fully and save it as its temp copy or a final version (exit 1: not valid, nothing saved)",
    )
    save.add_argument("workflow", help="workflow slug or id (its stored draft is saved)")
    save.add_argument("--to", choices=["temp", "final"], default="final", help="what to save it as (default: a final version)")
    save.add_argument(
        "--version",
        help="the final version (409 if it exists); default: the draft's own while above every saved version, else the next",
    )
    save.add_argument("--server", metavar="URL", help="save through this server (default: the local storage folder)")
    save.add_argument("--storage", type=Path, help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    save.add_argument("--plugins-dir", type=Path, help="drop-in plugins folder (env ECHO_PLUGINS_DIR, default ./plugins)")
    save.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    save.set_defaults(handler=_save)

    follow = commands.add_parser("follow", help="follow an execution's live progress until it ends")
    follow.add_argument("execution_id")
    follow.add_argument("--server", metavar="URL", help="follow it on this server (default: read the local storage's runtime database)")
    follow.add_argument("--storage", type=Path, help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    follow.add_argument("--plugins-dir", type=Path, help=argparse.SUPPRESS)
    client_options(follow)
    follow.set_defaults(handler=_follow)
