"""`echo-orchestrator run` and `follow`: an execution's live progress in the terminal.

Two sources give the same events: a server (`--server URL`: SSE with `Last-Event-ID`
reconnects, answers over REST) or the local storage (`run` starts the engine in this
process; `follow` reads the runtime database, which works while a server runs the
execution). The view is a progress bar over steps with the running step, LLM calls, tokens
and cost; an interactive prompt is answered at the terminal.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.prompt import Prompt
from rich.text import Text

from echo_orchestrator.run_sources import (
    TERMINAL,
    LocalRunSource,
    RemoteSource,
    Source,
    StoredSource,
    server_client,
)
from echo_orchestrator.settings import Settings

# Exit codes: 0 completed, 1 failed, 3 cancelled, 4 left paused (no answer at the terminal);
# 2 is for usage errors and a run that could not start.
EXIT = {"completed": 0, "failed": 1, "cancelled": 3, "paused": 4}


# Of a reply being streamed, the bar shows at most this much (its end): the whole is
# printed when the call ends.
STREAMING_LINES = 6
STREAMING_CHARACTERS = 600


class _RunProgress(Progress):
    """The bar, and under it the end of the reply a model is streaming now."""

    streaming = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.streaming:
            tail = "\n".join(self.streaming[-STREAMING_CHARACTERS:].splitlines()[-STREAMING_LINES:])
            yield Text(tail, style="cyan")


class RunView:
    """What the terminal shows while an execution runs."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.replies: dict[str, str] = {}  # call id -> the text streamed so far
        self.progress = _RunProgress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("starting", total=None, stats="")
        self.llm_calls, self.tokens, self.cost = 0, 0, 0.0
        self.status: str | None = None

    def stats(self) -> str:
        return f"LLM calls {self.llm_calls} · tokens {self.tokens} · ${self.cost:.4f}"

    def show(self, event_type: str, data: Mapping[str, Any]) -> None:
        log = self.progress.console.print
        if event_type == "step_started":
            self.progress.update(self.task, description=f"step {data.get('step_number')}: {data.get('step_name')}")
        elif event_type == "step_completed":
            log(f"[green]✓[/] step {data.get('step_number')} {data.get('step_name')} ({data.get('duration_seconds')} s)")
        elif event_type == "step_failed":
            log(f"[red]✗[/] step {data.get('step_number')} {data.get('step_name')}: {(data.get('error') or {}).get('message', '')}")
        elif event_type == "step_retrying":
            log(f"[yellow]↻[/] step {data.get('step_number')} {data.get('step_name')}: attempt {data.get('attempt')} ({data.get('error')})")
        elif event_type == "execution_progress":
            # A total of 0 means "not known yet" (a plugin graph before its first step): keep the bar's.
            self.progress.update(self.task, total=data.get("total_steps") or None, completed=data.get("completed_steps", 0))
        elif event_type == "llm_token":
            call = str(data.get("call_id"))
            self.replies[call] = self.progress.streaming = self.replies.get(call, "") + str(data.get("delta") or "")
            return  # the stats did not change
        elif event_type == "llm_call_completed":
            self.llm_calls += 1
            self.tokens += int(data.get("total_tokens") or 0)
            self.cost += float(data.get("cost_usd") or 0.0)
            reply = self.replies.pop(str(data.get("call_id")), None)
            if reply is not None:  # streamed: what the bar showed in part stays, whole, above it
                self.progress.streaming = ""
                log(f"[dim]step {data.get('step_number')} · {data.get('model')}:[/]")
                log(Text(reply, style="cyan"))
        elif event_type == "execution_paused":
            self.progress.update(self.task, description="paused: waiting for an answer")
        elif event_type == "execution_requeued":
            log(f"[yellow]↺[/] handed back to the queue: {data.get('reason') or ''}")
            self.progress.update(self.task, description="waiting for a worker")
        elif event_type == "execution_resumed":
            log(f"[cyan]↻[/] resumed from its {data.get('resumed_from') or 'checkpoint'}")
            self.progress.update(self.task, description="running")
        elif event_type in TERMINAL:
            self.status = TERMINAL[event_type]
            self.progress.update(self.task, description=self.status)
            if event_type == "execution_failed":
                log(f"[red]failed:[/] {(data.get('error') or {}).get('message', '')}")
            elif event_type == "execution_cancelled":
                log(f"[yellow]cancelled:[/] {data.get('reason') or ''}")
        self.progress.update(self.task, stats=self.stats())


def _ask(terminal: Console, prompt: Mapping[str, Any]) -> dict[str, Any] | None:
    """The answer to an interactive prompt, read at the terminal (None: nothing to read).
    Without a terminal (answers piped in by a script) the answers are read silently: no
    question text is printed where nobody reads it."""
    console = terminal if sys.stdin.isatty() else Console(file=io.StringIO())
    console.print(f"\n[bold]{prompt.get('message', 'Your answer is needed')}[/]")
    if (shown := prompt.get("output")) is not None:
        # An agent's output as JSON (what the API and the files show), not as Python's repr.
        console.print(shown if isinstance(shown, str) else json.dumps(shown, indent=2, ensure_ascii=False, default=str), markup=False)
    options = [str(o) for o in prompt.get("options") or ["approve", "reject", "modify"]]
    try:
        response = Prompt.ask("answer", choices=options, default=options[0], console=console)
        answer: dict[str, Any] = {"prompt_id": prompt["prompt_id"], "response": response}
        if response == "modify":
            while True:  # asked again until it is a JSON object
                text = Prompt.ask("changes (a JSON object)", default="{}", console=console)
                try:
                    changes = json.loads(text)
                except json.JSONDecodeError as exc:
                    console.print(f'[red]not JSON[/] ({exc.msg}); try again, e.g. {{"tone": "formal"}}')
                    continue
                if isinstance(changes, dict):
                    answer["changes"] = changes
                    break
                console.print("[red]a JSON object is needed[/] ({...}); try again")
        elif response == "reject":
            answer["reason"] = Prompt.ask("reason", default="", console=console) or None
    except EOFError:
        return None
    return answer


async def watch(source: Source, execution_id: str, console: Console, *, interactive: bool = True, output: str = "text") -> int:
    """Show an execution until it ends, answer its prompts at the terminal, then show its
    result (`output="json"`: only the result document, on stdout, for scripts). The exit code."""
    view = RunView(console)
    console.print(f"execution [bold]{execution_id}[/]")
    total = (await source.result(execution_id)).get("total_steps")
    view.progress.update(view.task, total=total or None, description="running")
    with view.progress:
        async for _seq, event_type, data in source.events(execution_id):
            view.show(event_type, data)
            if event_type == "interactive_prompt" and await source.pending_prompt(execution_id) == data.get("prompt_id"):
                view.progress.stop()
                answer = await anyio.to_thread.run_sync(_ask, console, data) if interactive else None
                if answer is None:
                    console.print(
                        f"[yellow]paused[/]: answer with POST /executions/{execution_id}/respond (prompt {data.get('prompt_id')})"
                    )
                    return EXIT["paused"]
                await source.respond(execution_id, answer)
                view.progress.start()
    result = await source.result(execution_id)
    show_result(result, console, output)
    console.print(f"{view.status or result.get('status') or 'ended'} · {view.stats()}")
    return EXIT.get(view.status or str(result.get("status")), 1)


def show_result(result: Mapping[str, Any], console: Console, output: str) -> None:
    if output == "json":
        sys.stdout.write(json.dumps(dict(result), indent=2, default=str) + "\n")
        sys.stdout.flush()
        return
    if result.get("outputs"):
        console.print("[bold]result[/]")
        console.print_json(json.dumps(result["outputs"], default=str))


async def interruptible(console: Console, body: Any, on_interrupt: Any = None) -> int:
    """Run `body()`; the first Ctrl-C calls `on_interrupt()` (cancel the run) and lets the run
    end as cancelled, a second one quits at once. Exit 130 when interrupted."""
    interrupted = False
    result = 130
    async with anyio.create_task_group() as tg:

        async def signals(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT) as received:
                task_status.started()  # Ctrl-C is ours from here on, before the run is shown
                async for _ in received:
                    if interrupted:
                        console.print("[red]interrupted[/]")
                        os._exit(130)  # the second Ctrl-C: now, whatever is in flight
                    interrupted = True
                    if on_interrupt is None:
                        tg.cancel_scope.cancel()
                        return
                    console.print("[yellow]cancelling[/] (Ctrl-C again to quit at once)")
                    tg.start_soon(on_interrupt)

        await tg.start(signals)
        result = await body()
        tg.cancel_scope.cancel()
    if interrupted:
        # The run has ended; what is left is cleanup. Another Ctrl-C from now on quits at
        # once with the same status (the receiver above is gone and with it its handler).
        signal.signal(signal.SIGINT, lambda *_: os._exit(130))
        return 130
    return result


def parse_inputs(pairs: list[str], files: list[Path]) -> dict[str, Any]:
    """`--input-file f.json` objects, then `--input key=value` (a value that parses as JSON is
    taken as JSON: numbers, true, lists; anything else is a string)."""
    inputs: dict[str, Any] = {}
    for path in files:
        loaded = json.loads(path.read_text())
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: an input file holds a JSON object")
        inputs.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--input {pair!r}: expected key=value")
        try:
            inputs[key] = json.loads(value)
        except json.JSONDecodeError:
            inputs[key] = value
    return inputs


async def run(
    target: str, inputs: Mapping[str, Any], *, server: str | None, settings: Settings, console: Console, output: str = "text"
) -> int:
    if server is not None:
        async with server_client(server) as client:
            source: Source = RemoteSource(client)
            execution_id = await source.start(target, inputs)
            return await interruptible(
                console, lambda: watch(source, execution_id, console, output=output), lambda: source.cancel(execution_id)
            )
    # Loading the engine and opening the storage, plugins and MCP hub takes a moment: say so first.
    console.print(f"starting [bold]{target}[/] on {settings.storage_dir.as_posix()}…")
    from echo_orchestrator.container import open_services

    # In this process, not through a cluster's queue (which would also hand it others' runs).
    async with open_services(settings, queued=False) as services:
        local = LocalRunSource(services)
        started = await local.start(target, inputs)
        return await interruptible(console, lambda: watch(local, started, console, output=output), lambda: local.cancel(started))


async def follow(execution_id: str, *, server: str | None, settings: Settings, console: Console, output: str = "text") -> int:
    if server is not None:
        async with server_client(server) as client:
            remote = RemoteSource(client)
            return await interruptible(console, lambda: watch(remote, execution_id, console, output=output))
    from echo_orchestrator.backends import runtime_store

    runtime = runtime_store(settings.runtime_url, settings.storage_dir)
    await runtime.open()
    try:
        stored = StoredSource(runtime)
        return await interruptible(console, lambda: watch(stored, execution_id, console, interactive=False, output=output))
    finally:
        with contextlib.suppress(Exception):
            await runtime.close()
