"""The cyclic collector is paused while a policy compiles, and comes back as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from meshgate.policy import load_policy
from meshgate.policy.gcpause import collector_paused


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_nested_pauses_restore_the_collector_only_when_the_last_ends() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_pause_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_an_error_inside_the_pause_still_restores_the_collector() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_compiling_a_policy_restores_the_collector(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "apiVersion: meshgate.dev/v1\nkind: AccessPolicy\nmetadata: {name: p}\n"
        "rules:\n- {name: r, effect: allow, subjects: [{role: a}], actions: [produce], resources: ['*']}\n"
    )
    assert len(load_policy(tmp_path).rules) == 1
    assert gc.isenabled()
