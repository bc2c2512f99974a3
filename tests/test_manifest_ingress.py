"""Published ports are a routing mesh (issue 13): ``"8080:80"`` and a long form with
``published`` answer on every node through its edge proxy (mode ingress), each replica binding
only a dynamic host port; ``mode: host``, udp and host-network services keep the port on the
nodes that run a replica. One ingress port serves one service of the project."""

from __future__ import annotations

from test_manifest import errors, parse, service, warnings, web
from tui_orch.model import PortSpec, ServiceSpec, from_dict, to_dict


def test_a_published_port_is_ingress_in_short_and_long_form() -> None:
    short = web('ports: ["8080:80", "80", "127.0.0.1:9090:90"]\n').ports
    assert short == (PortSpec(target=80, published=8080, mode="ingress"), PortSpec(target=80),
                     PortSpec(target=90, published=9090, host_ip="127.0.0.1", mode="ingress"))
    assert [(p.ingress, p.host_port, p.dynamic) for p in short] == [(True, None, True), (False, None, True),
                                                                    (True, None, True)]
    long = web("ports: [{target: 80, published: 8080}, {target: 81, published: 8081, mode: host}]\n").ports
    assert long == (PortSpec(target=80, published=8080, mode="ingress"), PortSpec(target=81, published=8081))
    assert [(p.ingress, p.host_port, p.dynamic) for p in long] == [(True, None, True), (False, 8081, False)]
    assert warnings(service('ports: ["8080:80", {target: 80, published: 8081, mode: ingress}]\n')) == []


def test_ingress_without_a_published_port_is_a_dynamic_port_with_a_warning() -> None:
    assert web("ports: [{target: 80, mode: ingress}]\n").ports == (PortSpec(target=80),)
    assert warnings(service("ports: [{target: 80, mode: ingress}]\n")) == [
        "web.yaml:4:32: warning: services.web.ports[0].mode: mode ingress needs published: (the port every node "
        "answers on); without it each replica gets a dynamic host port (mode host)"]


def test_a_udp_port_stays_mode_host_with_one_warning() -> None:
    text = service('ports: ["53:53/udp", {target: 54, published: 54, protocol: udp, mode: ingress}, "8080:80"]\n')
    assert parse(text).services[0].ports == (
        PortSpec(target=53, published=53, protocol="udp"), PortSpec(target=54, published=54, protocol="udp"),
        PortSpec(target=80, published=8080, mode="ingress"))
    assert warnings(text) == [
        "web.yaml:4:5: warning: services.web.ports: the edge proxy carries TCP: web's udp port 53 is published on "
        "each node that runs a replica of web (mode host)",
        "web.yaml:4:5: warning: services.web.ports: the edge proxy carries TCP: web's udp port 54 is published on "
        "each node that runs a replica of web (mode host)"]


def test_a_host_network_service_keeps_its_ports_mode_host_with_one_warning() -> None:
    text = service('network_mode: host\nports: ["8080:80", {target: 81, published: 8081}, "82"]\n')
    assert parse(text).services[0].ports == (PortSpec(target=80, published=8080),
                                             PortSpec(target=81, published=8081), PortSpec(target=82))
    assert warnings(text) == [
        "web.yaml:5:5: warning: services.web.ports: web has network_mode: host: a host-network replica binds its "
        "ports itself, so the edge proxy cannot take port(s) 8080, 8081 on its node; they are published on each "
        "node that runs a replica of web (mode host)"]
    assert warnings(service('network_mode: host\nports: ["82", {target: 81, published: 8081, mode: host}]\n')) == []


def test_two_services_publishing_one_ingress_port_is_an_error_naming_both() -> None:
    found = errors("""
        services:
          web: {image: nginx, ports: ["8080:80"]}
          api: {image: nginx, ports: ["127.0.0.1:8080:81"]}
          ok: {image: nginx, ports: ["8080:80/udp"]}
    """)
    assert found == ["web.yaml:4:3: services.api.ports: port 8080/tcp is published by web and by api; a published "
                     "port answers on every node (mode ingress) and serves one service: give one of them another "
                     "published port"]


def test_an_ingress_port_equal_to_another_service_host_port_is_an_error() -> None:
    found = errors("""
        services:
          dns: {image: nginx, network_mode: host, ports: ["8080:8080"]}
          web: {image: nginx, ports: ["8080:80"]}
          side: {image: nginx, ports: [{target: 80, published: 9090, mode: host}]}
          api: {image: nginx, ports: ["9090:80"]}
    """)
    assert found == [
        "web.yaml:4:3: services.web.ports: port 8080/tcp is published by dns (mode host) and by web; every node "
        "answers on web's port (mode ingress), so dns could not bind it: give one of them another published port",
        "web.yaml:6:3: services.api.ports: port 9090/tcp is published by side (mode host) and by api; every node "
        "answers on api's port (mode ingress), so side could not bind it: give one of them another published port"]


def test_host_ports_may_repeat_across_services_and_left_out_services_do_not_count() -> None:
    m = parse("""
        services:
          a: {image: nginx, ports: [{target: 80, published: 8080, mode: host}]}
          b: {image: nginx, ports: [{target: 80, published: 8080, mode: host}]}
          c: {image: nginx, ports: ["9090:80"]}
          d: {image: nginx, ports: ["9090:80"], profiles: [debug]}
    """)
    assert m.names == ("a", "b", "c") and m.warnings == ()
    found = errors("""
        services:
          c: {image: nginx, ports: ["9090:80"]}
          d: {image: nginx, ports: ["9090:80"], profiles: [debug]}
    """, profiles=["debug"])
    assert [e.split(": ")[1] for e in found] == ["services.d.ports"]


def test_one_service_publishing_a_port_twice_is_still_an_error() -> None:
    assert errors(service('ports: ["8080:80", {target: 81, published: 8080, mode: host}]\n')) == [
        "web.yaml:4:24: services.web.ports[1]: host port 8080/tcp is already published by services.web.ports[0]; "
        "a port can be bound once: use another host port"]


def test_a_spec_stored_by_an_older_version_reads_back_equal() -> None:
    """Every port of an older version was stored with mode host: it reads back as it was, the
    replica binding its published port (so an upgrade starts no rollout)."""
    stored = to_dict(ServiceSpec("web", "nginx", ports=(PortSpec(target=80, published=8080, mode="host"),
                                                        PortSpec(target=81))))
    assert stored["ports"][0] == {"target": 80, "published": 8080, "protocol": "tcp", "host_ip": None, "mode": "host"}
    back = from_dict(ServiceSpec, stored)
    assert to_dict(back) == stored and back.digest() == "302d39c92b5c"  # the digest the older version stored
    assert [(p.host_port, p.dynamic, p.ingress) for p in back.ports] == [(8080, False, False), (None, True, False)]
