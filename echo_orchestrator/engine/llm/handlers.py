"""What a LangChain callback handler of ours listens to.

LangChain offers every event to every handler of a run: each node and each runnable inside
it starts and ends a chain, and a handler that has no use for the event still gets a call
(a task of its own when it is not inline). Worse, a handler without `on_chat_model_start`
gets `on_llm_start` instead, with every message of the call turned into one string first.
A handler says what it ignores, and LangChain then skips it (measured: ~10% of the Python
time of a one-call run).
"""

from __future__ import annotations

from langchain_core.callbacks import AsyncCallbackHandler

# LangChain's `ignore_*` are read-only properties of the handler.
_IGNORED = property(lambda _handler: True)


class ModelHandler(AsyncCallbackHandler):
    """Listens to chat model calls only."""

    run_inline = True  # in order, on the call's own task: no task per event
    ignore_chain = ignore_agent = ignore_retriever = ignore_retry = ignore_custom_event = _IGNORED


class ChainHandler(AsyncCallbackHandler):
    """Listens to chains (a graph's tasks) and custom events only."""

    run_inline = True  # in order, in the task's own context
    ignore_llm = ignore_chat_model = ignore_agent = ignore_retriever = ignore_retry = _IGNORED
