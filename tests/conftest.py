"""Shared fixtures.

``lab``: the lab of real nodes (tests/lab/lab.py: sshd + Docker Engine per node, each node
in a network namespace of its own at 10.77.0.2-4, its sshd reached on 127.0.0.2-4:2222), one
per test session. A test that needs real nodes takes the fixture
and is marked ``lab`` automatically (deselect with ``-m "not lab"``). Tests of the console
(the Textual app, its snapshots, the tmux end-to-end test) are marked ``console``; every other
test is of the pure/simulated tier. The fixture's value
is a ``lab.Lab``: ``lab.nodes[i]`` (name, address, port, user, socket, ...),
``lab.client_key``, ``lab.known_hosts``, ``lab.inventory``, and the fault helpers
``lab.kill_sshd(node)``, ``lab.start_sshd(node)``, ``lab.kill_node(node)``,
``lab.start_node(node)`` (a node by name, number or NodeLab); clients on the lab network run
in ``lab.inside()`` (tests/nodes_support.py: ``http_get``, ``inside``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "lab"))
import lab as lab_tool  # noqa: E402  (tests/lab/lab.py: standard library only)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


# the console's test modules (they drive the app): tests/test_ui_*.py and these
CONSOLE_MODULES = {"test_e2e_console.py", "test_cli_console.py", "test_themes.py"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: needs the lab of real nodes (sshd + Docker Engine per node)")
    config.addinivalue_line("markers", "console: drives the console (Textual app, snapshots, tmux)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tiers: ``lab`` by use of the lab fixture, ``console`` by module (or snap_compare)."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "lab" in fixtures:
            item.add_marker(pytest.mark.lab)
        if item.path.name.startswith("test_ui_") or item.path.name in CONSOLE_MODULES or "snap_compare" in fixtures:
            item.add_marker(pytest.mark.console)


@pytest.fixture(scope="session")
def lab():
    """The running lab. A healthy lab (e.g. started by .ci/run or `make lab-start`) is
    used and left running; otherwise the fixture starts it and stops it at the end of
    the session. A lab that cannot start skips the test, and fails it under CI=true."""
    found = lab_tool.layout(lab_tool.DEFAULT_NODES)
    if lab_tool.is_healthy(found):
        yield found
        return
    try:
        started = lab_tool.start_lab(lab_tool.DEFAULT_NODES)
    except (lab_tool.LabError, OSError) as exc:
        with_note = f"the test lab cannot start: {exc}"
        try:
            lab_tool.stop_lab(found)  # what a half start left running
        except (lab_tool.LabError, OSError) as stop_exc:
            with_note += f" (and stopping it failed: {stop_exc})"
        if _in_ci():
            pytest.fail(with_note, pytrace=False)
        pytest.skip(with_note)
    try:
        yield started
    finally:
        lab_tool.stop_lab(started)


@pytest.fixture(scope="session")
def haproxy_argv() -> tuple[list[str], dict[str, str]]:
    """(argv, env) running Debian's haproxy 2.6 on this machine (tests/proxy_support.py)."""
    from proxy_support import haproxy_binary

    return haproxy_binary()
