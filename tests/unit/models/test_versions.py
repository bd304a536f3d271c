from __future__ import annotations

import pytest

from echo_orchestrator.errors import Invalid
from echo_orchestrator.models.versions import next_version, sort_versions, version_key


def test_versions_compare_as_numbers() -> None:
    assert sort_versions(["2.0", "1.10", "1.9", "1.0.1", "1.0"]) == ["1.0", "1.0.1", "1.9", "1.10", "2.0"]
    assert version_key("1") == version_key("1.0") == version_key("1.0.0")


@pytest.mark.parametrize("bad", ["", "v1", "1.", ".1", "1..2", "01.2", "1.2.3.4.5", "1.a", "1.0-beta"])
def test_malformed_versions_are_invalid(bad: str) -> None:
    with pytest.raises(Invalid):
        version_key(bad)


def test_next_version_bumps_the_last_part() -> None:
    assert next_version([]) == "1.0"
    assert next_version(["1.0", "1.9"]) == "1.10"
    assert next_version(["2"]) == "2.1"
    assert next_version(["1.2.3"]) == "1.2.4"


def test_the_next_version_prefers_the_workflows_own_while_it_is_the_highest() -> None:
    assert next_version([], "0.1") == "0.1"
    assert next_version(["0.1"], "0.1") == "0.2"  # saved already: the next one, never a conflict
    assert next_version(["1.0"], "0.1") == "1.1"  # below the highest: the next one
    assert next_version(["1.0"], "2") == "2.0"  # above: as asked, canonical
