"""Services find each other by name (issue 13), on the lab's real network: a two-tier stack
whose web service calls its database by name answers through every node's published port,
from replicas on the database's node and on the others; an alias works; a service that shares
no network with the database cannot resolve it."""

from __future__ import annotations

import contextlib

import docker.errors

from controller_support import cleanup, controller, manifest, prefix, remove_edges
from nodes_support import direct_client, each_client, http_get, wait_for

# The lab image's wget is a static busybox whose own name lookup does not work (a static glibc
# cannot load its resolver), so the scripts ask the engine's DNS with busybox nslookup (its own
# resolver) and connect to the address it answers: the mesh proxy of the caller's node.
ASK = "timeout 5 wget -q -O - http://$$(busybox nslookup {name} | sed -n 's/^Address: //p' | tail -1):5432/who"

STACK = """
name: {pre}
services:
  {pre}db:
    image: tuiorch/busybox:1
    command: ["sh", "-c", "mkdir -p /www && echo db-$$TUI_ORCH_NODE > /www/who && exec httpd -f -p 5432 -h /www"]
    expose: ["5432"]
    networks:
      back:
        aliases: [database]
    deploy:
      placement:
        constraints: [node.id == node1]
  {pre}web:
    image: tuiorch/busybox:1
    # /cgi-bin/db asks the database by name, /cgi-bin/alias by its alias
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    configs:
      - {{source: db, target: /www/cgi-bin/db, mode: 0755}}
      - {{source: alias, target: /www/cgi-bin/alias, mode: 0755}}
    ports: ["{port}:80"]
    networks: [front, back]
    deploy:
      mode: global
  {pre}lone:
    image: tuiorch/busybox:1
    command: ["sleep", "100000"]
    networks: [other]
    deploy:
      placement:
        constraints: [node.id == node2]
configs:
  db:
    content: |
      #!/bin/sh
      echo Content-Type: text/plain
      echo
      {ask_db}
  alias:
    content: |
      #!/bin/sh
      echo Content-Type: text/plain
      echo
      {ask_alias}
networks:
  front: {{}}
  back: {{}}
  other: {{}}
"""


def stack(pre: str, port: int):
    return manifest(STACK.format(pre=pre, port=port, ask_db=ASK.format(name=f"{pre}db"),
                                 ask_alias=ASK.format(name="database")))


def ask(name: str) -> list[str]:
    return ["sh", "-c", ASK.format(name=name).replace("$$", "$")]


def remove_meshes_and_networks(lab, owner: str, pre: str) -> None:
    from tui_orch.nodes.meshproxy import LABEL_MESH

    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            for c in client.api.containers(all=True, filters={"label": f"{LABEL_MESH}={owner}"}):
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_container(c["Id"], force=True)
            for n in client.api.networks():
                if n["Name"].startswith(pre + "_"):
                    with contextlib.suppress(docker.errors.APIError):
                        client.api.remove_network(n["Id"])
        finally:
            client.close()


def project_networks(lab, pre: str) -> list[str]:
    return [f"{n['Name']} on {lab_node.name}" for lab_node, client in each_client(lab)
            for n in client.api.networks() if n["Name"].startswith(pre + "_")]


def meshes(lab, owner: str) -> list[str]:
    from tui_orch.nodes.meshproxy import LABEL_MESH

    found = []
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            found += [c["Names"][0] for c in client.api.containers(all=True, filters={"label": f"{LABEL_MESH}={owner}"})]
        finally:
            client.close()
    return found


def run_in(lab, node: str, service: str, argv: list[str]) -> tuple[int, str]:
    """Run argv in the replica of ``service`` on ``node`` (docker exec): (exit code, output)."""
    client = direct_client(lab.node(node))
    try:
        found = client.api.containers(filters={"label": f"tui-orch.service={service}", "status": "running"})
        assert found, f"no running replica of {service} on {node}"
        exec_id = client.api.exec_create(found[0]["Id"], argv)["Id"]
        out = client.api.exec_start(exec_id).decode(errors="replace")
        return client.api.exec_inspect(exec_id)["ExitCode"], out
    finally:
        client.close()


async def test_a_web_service_calls_its_database_by_name_through_every_node(lab, tmp_path):
    from tui_orch.controller.context import owner_id

    pre = prefix()
    port = 18000 + int(pre[1:], 16) % 900
    owner = ""
    try:
        async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
            owner = owner_id(store)
            await ctl.start()
            result = await ctl.apply(stack(pre, port))
            assert result.ok, result
            db = store.replicas(f"{pre}db")
            assert [r.node for r in db] == ["node1"]
            assert sorted(r.node for r in store.replicas(f"{pre}web")) == ["node1", "node2", "node3"]
            # through every node's published port, to a web replica that asks the database by name
            for node in lab.nodes:
                for path in ("db", "alias"):
                    url = f"http://{node.lab_address}:{port}/cgi-bin/{path}"

                    def answered() -> bool:
                        status, body = http_get(lab, url, timeout=5)
                        return status == 200 and body.strip() == "db-node1"

                    await wait_for(answered, timeout=20, interval=0.2)
            # from each web replica itself: on the database's node (a local replica) and on the
            # others (through the node network to node1)
            for node in ("node1", "node2", "node3"):
                code, out = run_in(lab, node, f"{pre}web", ask(f"{pre}db"))
                assert (code, out.strip()) == (0, "db-node1"), (node, code, out)
            # a service on no network of the database's cannot resolve it, nor its alias
            for name in (f"{pre}db", "database"):
                code, out = run_in(lab, "node2", f"{pre}lone", ["busybox", "nslookup", name])
                assert code != 0 and "Name:" not in out, out
                code, out = run_in(lab, "node2", f"{pre}lone", ask(name))
                assert code != 0 and "db-node1" not in out, out
            # and web's own name is served to the others of its networks, not to lone's
            code, out = run_in(lab, "node2", f"{pre}lone", ["busybox", "nslookup", f"{pre}web"])
            assert code != 0 and "Name:" not in out, out
            # the rotation of the database, served by name only: as the mesh proxies report it
            # (what `tui-orch get replicas` reads) and as this controller told them (the console)
            from tui_orch.controller.traffic import read_rotation

            reported = await read_rotation(fleet, owner)
            assert reported.get(db[0].container_id[:12]) == "in", reported
            rows = ctl.query().get_replicas(None, reported)
            assert [r.get("rotation") for r in rows if r["service"] == f"{pre}db"] == ["in"]
            assert all("rotation" not in r for r in rows if r["service"] == f"{pre}lone")  # nobody calls it
            shown = {r.service: r.rotation for r in ctl.query().replica_rows(0.0)}
            assert (shown[f"{pre}db"], shown[f"{pre}lone"]) == ("in", "")
            # removed: the mesh proxies go with the services they stood for
            for name in ("web", "lone", "db"):
                await ctl.remove(f"{pre}{name}")
            await wait_for(lambda: not meshes(lab, owner), timeout=15, interval=0.2)
            # and so do their networks, from every node (as docker compose down removes them)
            with contextlib.suppress(AssertionError):
                await wait_for(lambda: not project_networks(lab, pre), timeout=15, interval=0.2)
            assert not project_networks(lab, pre)  # which are left, where
    finally:
        cleanup(lab, pre)
        if owner:
            remove_edges(lab, owner)
            remove_meshes_and_networks(lab, owner, pre)
