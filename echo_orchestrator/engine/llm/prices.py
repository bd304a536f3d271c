"""USD prices per million tokens, by model; configurable with a JSON file.

`ECHO_PRICES_FILE` (or Settings.prices_file) may point to
`{"my-model": {"input_per_million": 1.0, "output_per_million": 2.0}, ...}`, merged over
the defaults below. A model is matched exactly, else by the longest known prefix
("gpt-4o-mini-2024-07-18" -> "gpt-4o-mini"). Unknown models have no cost (None), which
analytics report as unpriced rather than free.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from echo_orchestrator.errors import ConfigurationError


class Price(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    input_per_million: float
    output_per_million: float


# List prices in USD per 1M tokens (November 2026), for the models people most often name.
DEFAULT_PRICES: dict[str, Price] = {
    "echo": Price(0.0, 0.0),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4": Price(30.00, 60.00),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "claude-haiku-4-5": Price(1.00, 5.00),
    "claude-sonnet-4-5": Price(3.00, 15.00),
    "claude-opus-4-1": Price(15.00, 75.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3": Price(3.00, 15.00),
}


class PriceTable:
    def __init__(self, prices: dict[str, Price] | None = None) -> None:
        self._prices = dict(DEFAULT_PRICES if prices is None else prices)
        self._by_length = sorted(self._prices, key=len, reverse=True)

    @classmethod
    def from_file(cls, path: Path | None) -> PriceTable:
        prices = dict(DEFAULT_PRICES)
        if path is not None:
            try:
                prices.update(msgspec.json.decode(path.read_bytes(), type=dict[str, Price]))
            except (OSError, msgspec.DecodeError) as exc:
                raise ConfigurationError(f"Cannot read the price table {path}: {exc}") from exc
        return cls(prices)

    def price(self, model: str) -> Price | None:
        if model in self._prices:
            return self._prices[model]
        return next((self._prices[k] for k in self._by_length if model.startswith(k)), None)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.price(model)
        if price is None:
            return None
        total = prompt_tokens * price.input_per_million + completion_tokens * price.output_per_million
        return round(total / 1_000_000, 8)
