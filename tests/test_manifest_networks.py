"""Networks and names (issue 13): the top-level ``networks``, each service's ``networks`` with
``aliases``, and ``expose``, read as Compose reads them: a service that names no network is on
the project's default one, a network is ``<project>_<key>`` on the nodes unless ``name:`` or
``external`` says otherwise, and a service reaches another by name only when they share one."""

from __future__ import annotations

from test_manifest import errors, parse, warnings
from tui_orch.model import NetworkRef, ServiceSpec, from_dict, to_dict

SHOP = """\
name: shop
services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
    networks: [front, back]
  api:
    image: busybox
    expose: ["9000", "7000-7002", 53/udp]
    networks:
      back:
        aliases: [backend, api.internal]
  db:
    image: postgres:16
    networks: [back]
  lone:
    image: busybox
  agent:
    image: busybox
    network_mode: host
networks:
  front: {}
  back:
    labels: {team: shop}
  shared:
    external: true
  renamed:
    name: corp-net
"""


def test_services_are_on_their_networks_with_their_aliases_and_the_default_one_otherwise() -> None:
    manifest = parse(SHOP)
    by = {s.name: s for s in manifest.services}
    back = NetworkRef("back", "shop_back", labels=(("team", "shop"),))
    assert by["web"].networks == (NetworkRef("front", "shop_front"), back)
    assert by["api"].networks == (NetworkRef("back", "shop_back", ("backend", "api.internal"),
                                             labels=(("team", "shop"),)),)
    assert by["db"].networks == (back,)
    assert by["lone"].networks == (NetworkRef("default", "shop_default"),)
    assert by["agent"].networks == () and by["agent"].network_mode == "host"  # reached by no name
    assert by["api"].expose == (7000, 7001, 7002, 9000)
    assert warnings(SHOP) == [
        "web.yaml:9:35: warning: services.api.expose[2]: the mesh proxies carry TCP: 53/udp is not reachable by name"]


def test_external_and_named_networks_keep_their_names() -> None:
    text = SHOP.replace("networks: [back]\n", "networks: [back, shared, renamed]\n", 1)
    db = parse(text).service("db")
    assert [(n.key, n.name, n.external) for n in db.networks] == [
        ("back", "shop_back", False), ("shared", "shared", True), ("renamed", "corp-net", False)]
    legacy = "services: {a: {image: x, networks: [old]}}\nnetworks: {old: {external: {name: corp}}}\n"
    assert [(n.name, n.external) for n in parse(legacy).service("a").networks] == [("corp", True)]
    assert warnings(legacy) == ["web.yaml:2:28: warning: networks.old.external: external: {name: ...} is "
                                "deprecated; write external: true and name: at the network's level"]


def test_a_declared_default_network_is_used_for_services_naming_none() -> None:
    text = "services: {a: {image: x}}\nnetworks: {default: {name: everyone}}\n"
    assert parse(text).service("a").networks == (NetworkRef("default", "everyone"),)


def test_network_mistakes_say_what_to_do() -> None:
    assert errors("""\
        services:
          a: {image: x, networks: [nope]}
          b: {image: x, networks: [front], network_mode: host}
          c: {image: x, networks: {front: {aliases: ["no spaces"]}}}
          d: {image: x, networks: [front, front]}
          e: {image: x, expose: ["80-70", "http", 70000]}
        networks:
          front: {driver: macvlan}
          "bad name": {}
          ext: {external: true, labels: {a: b}}
        """) == [
        "web.yaml:2:3: services.a.networks: network nope is not declared; add it under the top-level networks: (nope: {})",
        "web.yaml:3:3: services.b.networks: networks and network_mode host cannot both be set; remove one",
        "web.yaml:4:46: services.c.networks.front.aliases[0]: an alias is a host name (letters, digits, '-' and '_', "
        "parts separated by dots), got 'no spaces'",
        "web.yaml:5:35: services.d.networks[1]: network 'front' is listed twice",
        "web.yaml:6:26: services.e.expose[0]: ports are 1 to 65535, the first of a range not above the last; got '80-70'",
        "web.yaml:8:19: networks.front.driver: expected bridge or overlay, got 'macvlan': tui-orch makes a bridge "
        "network on each node",
        "web.yaml:9:3: networks.bad name: a network name is letters, digits, '_', '.' and '-', starting with a "
        "letter or digit, got 'bad name'",
        "web.yaml:10:25: networks.ext.labels: an external network is made by you, not by tui-orch: remove labels "
        "(or external)",
    ]


def test_overlay_is_read_as_a_bridge_on_each_node_internal_and_ipam_are_warned_about() -> None:
    text = ("services: {a: {image: x, networks: {n: {ipv4_address: 10.0.0.5}}}}\n"
            "networks: {n: {driver: overlay, ipam: {}, internal: true}}\n")
    net = parse(text).service("a").networks[0]
    assert net.name.endswith("_n") and not net.internal
    assert [w.split(": warning: ")[1].split(":")[0] for w in warnings(text)] == [
        "services.a.networks.n.ipv4_address", "networks.n.driver", "networks.n.ipam", "networks.n.internal"]


def test_networks_survive_the_store_and_an_older_spec_keeps_its_digest() -> None:
    spec = parse(SHOP).service("api")
    assert from_dict(ServiceSpec, to_dict(spec)) == spec
    older = ServiceSpec("web", "nginx")
    assert "networks" not in older.__dict__ or older.networks == ()
    assert spec.digest() != older.digest()


def test_a_declaration_in_error_is_said_once_not_again_for_each_service_naming_it() -> None:
    assert errors("""
        services:
          a: {image: x, networks: [front]}
          b: {image: x, networks: [front]}
        networks:
          front: {driver: macvlan}
        """) == [
        "web.yaml:6:19: networks.front.driver: expected bridge or overlay, got 'macvlan': tui-orch makes a bridge "
        "network on each node",
    ]


def test_an_empty_driver_is_the_engines_default_a_bridge_as_in_compose() -> None:
    # driver: ${NETWORKS_DRIVER} with the variable unset, as laradock's file has it without .env
    text = "services: {a: {image: x, networks: [n]}}\nnetworks: {n: {driver: '${NETWORKS_DRIVER}'}}\n"
    assert parse(text).service("a").networks[0].name.endswith("_n")
    assert warnings(text) == ["web.yaml:2:24: warning: networks.n.driver: variable NETWORKS_DRIVER is not set; "
                              "using an empty string"]  # the variable's warning only, as Compose says


def test_links_are_start_dependencies_and_their_aliases_names_on_a_shared_network() -> None:
    # docker/compose's networks fixture: links: ["db:database"]
    text = """
        services:
          app:
            image: busybox
            links: ["db:database", cache]
          db: {image: postgres}
          cache: {image: redis}
          lone: {image: busybox, networks: [other], links: [db]}
        networks: {other: {}}
        """
    assert errors(text) == ["web.yaml:8:45: services.lone.links: lone and db share no network, so db cannot be "
                            "reached from lone; put both on one network (networks:)"]
    manifest = parse(text.replace(", links: [db]", ""))
    app, db = manifest.service("app"), manifest.service("db")
    assert [(d.service, d.condition) for d in app.depends_on] == [("db", "service_started"), ("cache", "service_started")]
    assert [(n.key, n.aliases) for n in db.networks] == [("default", ("database",))]
    assert [str(w) for w in manifest.warnings] == [
        "web.yaml:5:5: warning: services.app.links: database is a name of db on network default for every "
        "service there, not only for app"]
    assert errors("services: {a: {image: x, links: ['db:no spaces']}, db: {image: y}}\n") == [
        "web.yaml:1:34: services.a.links: expected SERVICE or SERVICE:ALIAS (an alias is a host name), "
        "got 'db:no spaces'"]


def test_the_engines_own_network_named_under_networks_points_at_network_mode() -> None:
    # docker/compose's networks/bridge.yml: networks: [bridge] with no declaration
    assert errors("services: {a: {image: x, networks: [bridge]}}\n") == [
        "web.yaml:1:12: services.a.networks: network bridge is not declared; add it under the top-level networks: "
        "(bridge: {}); for the engine's own bridge network write network_mode: bridge instead"]
