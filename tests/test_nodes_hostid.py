"""Host identity: nodes learn which machine and network namespace they run on, so that nodes
sharing one (the lab's three engines, or two engines on a user's machine) share host ports."""

from __future__ import annotations

import os
import subprocess

from nodes_support import specs
from tui_orch.inventory import Inventory
from tui_orch.model import NodeSpec, NodeState
from tui_orch.nodes import hostid
from tui_orch.nodes.fleet import Fleet
from tui_orch.nodes.remote import FACTS_SCRIPT, CommandResult, _facts

BOOT = "8f6ec07c-08b1-4974-9f4c-8c2e62199159"


def test_identity_needs_both_the_boot_id_and_the_namespace() -> None:
    assert hostid.host_id(BOOT + "\n", 4026531833) == f"{BOOT}/net:4026531833"
    assert hostid.host_id(BOOT.upper(), "4026531833") == f"{BOOT}/net:4026531833"
    assert hostid.host_id("", 4026531833) == ""
    assert hostid.host_id(BOOT, None) == ""
    assert hostid.host_id(BOOT, "") == ""
    assert hostid.host_id("not a boot id", 7) == ""


def test_parse_takes_the_marked_line_and_leaves_the_others() -> None:
    out = f"4\nMemTotal: 1 kB\nweb1\n{hostid.MARK} {BOOT} net:[4026531833]\n"
    assert hostid.parse(out) == (f"{BOOT}/net:4026531833", "4\nMemTotal: 1 kB\nweb1")
    assert hostid.parse(f"4\n{hostid.MARK}\n") == ("", "4")  # no /proc there (not Linux)
    assert hostid.parse(f"{hostid.MARK} {BOOT}\n")[0] == ""  # no namespace: unknown
    assert hostid.parse(f"{hostid.MARK} {BOOT} mnt:[1]\n")[0] == ""
    assert hostid.parse("4\n") == ("", "4")


def test_the_facts_script_reports_this_machine_as_the_local_node_does() -> None:
    out = subprocess.run(["sh", "-c", FACTS_SCRIPT], capture_output=True, text=True, timeout=10)
    facts = _facts({"ServerVersion": "20.10"}, CommandResult(out.returncode, out.stdout, out.stderr))
    with open(hostid.BOOT_ID, encoding="ascii") as f:
        boot = f.read().strip()
    assert facts.host_id == hostid.local_host_id() == f"{boot}/net:{os.stat('/proc/self/ns/net').st_ino}"
    assert facts.capacity is not None and facts.capacity.cpus == os.cpu_count()
    assert facts.hostname == subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()


def test_facts_without_the_identity_line_still_read_the_rest() -> None:
    facts = _facts({"Name": "engine"}, CommandResult(0, "2\nMemTotal: 1024 kB\nweb1\n", ""))
    assert (facts.host_id, facts.hostname, facts.capacity.cpus) == ("", "web1", 2.0)  # type: ignore[union-attr]
    assert _facts({"Name": "engine"}, None).host_id == ""


async def test_lab_nodes_are_one_machine_with_a_network_namespace_each(lab) -> None:
    """The lab's nodes run on this machine (one boot id), each in its own network namespace
    (its own ports); a local node is this process's namespace. A simulated node is unknown."""
    nodes = (*specs(lab).values(), NodeSpec(name="local", local=True, docker_socket=str(lab.node(1).socket)),
             NodeSpec(name="sim", simulated=True))
    fleet = Fleet(Inventory(nodes=nodes))
    try:
        await fleet.start()
        for node in fleet.nodes.values():
            await node.wait_state(NodeState.READY, timeout=30)
        ids = {info.name: info.host_id for info in fleet.node_infos()}
        assert ids["sim"] == ""
        here = hostid.local_host_id()
        assert here and ids["local"] == here
        lab_ids = {ids[n] for n in ("node1", "node2", "node3")}
        assert len(lab_ids) == 3 and here not in lab_ids, ids
        assert {i.split("/")[0] for i in lab_ids} == {here.split("/")[0]}  # one machine, one boot
    finally:
        await fleet.close()
