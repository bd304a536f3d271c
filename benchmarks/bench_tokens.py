"""What a streamed reply costs per piece: ours (the run's TokenStreamer -> bus -> a subscriber
that asked) beside LangGraph's own token streaming (`stream_mode="messages"`), measured in the
same run on the same one-node graph and the same offline model, in process (no HTTP).

The model is the `echo` one streaming its reply in word pieces with no delay, so what is
measured is the streaming path, not a network. Rows: the reply asked whole (no streaming);
streamed with nobody listening (a run whose tokens no one asked for); streamed to one
subscriber; LangGraph's `messages` mode consuming every chunk (the anchor). Each figure is
CPU microseconds per call and per piece, and the ratio to the anchor.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TypedDict

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph

from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.live_tokens import TokenPublisher
from echo_orchestrator.engine.llm.echo import EchoChatModel, pieces
from echo_orchestrator.engine.llm.tokens import TokenStreamer
from echo_orchestrator.models import Execution, utcnow


class State(TypedDict, total=False):
    prompt: str
    reply: str


def graph(model: EchoChatModel) -> Any:
    async def ask(state: State) -> State:
        reply = await model.ainvoke([HumanMessage(state["prompt"])])
        return {"reply": str(reply.content)}

    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile()


class _Live:
    """The parts of a LiveRun the publisher reads."""

    def __init__(self) -> None:
        self.execution = Execution(execution_id="wfexec_bench", kind="graph", status="running", created_at=utcnow())
        self.running_steps: dict[str, Any] = {}


async def measure(calls: int, words: int) -> dict[str, float]:
    prompt = " ".join(f"w{i}" for i in range(words))
    whole, streaming = EchoChatModel(disable_streaming=True), EchoChatModel(stream_delay_ms=0)
    plain, streamed = graph(whole), graph(streaming)
    bus = EventBus(buffer=1_000_000)
    publisher = TokenPublisher(bus)
    live: Any = _Live()

    async def timed(run: Any) -> float:
        await run()  # warm
        began = time.process_time()
        for _ in range(calls):
            await run()
        return (time.process_time() - began) / calls * 1e6

    async def unstreamed() -> None:
        await plain.ainvoke({"prompt": prompt})

    async def ours() -> None:
        config: Any = {"callbacks": [TokenStreamer(lambda *a: publisher.publish(live, *a))]}
        await streamed.ainvoke({"prompt": prompt}, config=config)

    async def anchor() -> None:
        async for _mode, _chunk in streamed.astream({"prompt": prompt}, stream_mode=["messages"]):
            pass

    figures = {"whole reply (no streaming)": await timed(unstreamed), "streamed, nobody asked": await timed(ours)}
    subscription = bus.subscribe("wfexec_bench", tokens=True)

    async def ours_listened() -> None:
        await ours()
        while True:  # the subscriber takes every piece (what a WebSocket forwarder does first)
            try:
                subscription.receive.receive_nowait()
            except anyio.WouldBlock:
                return

    figures["streamed to one subscriber"] = await timed(ours_listened)
    figures["LangGraph messages mode (anchor)"] = await timed(anchor)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--words", type=int, default=200, help="words in the prompt (the echo reply repeats it)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the script works (the suite runs it)")
    args = parser.parse_args()
    if args.smoke:
        args.calls, args.words = 3, 10
    figures = anyio.run(measure, args.calls, args.words)
    count = len(pieces(EchoChatModel().reply_for([HumanMessage(" ".join(f"w{i}" for i in range(args.words)))])))
    anchor = figures["LangGraph messages mode (anchor)"]
    print(f"one-node graph, echo model, {count} pieces a reply, {args.calls} calls; CPU per call (process time)")
    for name, micros in figures.items():
        print(f"  {name:<34} {micros:9.0f} µs/call  {micros / count:6.1f} µs/piece  x{micros / anchor:.2f} of the anchor")


if __name__ == "__main__":
    main()
