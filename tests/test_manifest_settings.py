"""Container settings: read as Compose defines them, checked, stored, turned into the engine's
HostConfig, and ``platform`` honoured by placement. Pure tests (no node)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from textwrap import dedent, indent

import pytest

from tui_orch.container_settings import (
    BlkioConfig, ContainerSettings, DeviceMapping, GpuRequest, LogConfig, Throttle, Ulimit, node_platform,
    normalise_platform, platform_matches,
)
from tui_orch.controller.containers import container_request
from tui_orch.errors import ManifestError
from tui_orch.manifest import DECISIONS, parse_manifest
from tui_orch.model import NodeInfo, Resources, ResourceSpec, ServiceSpec, from_dict, to_dict
from tui_orch.nodes.supervised import engine_platform
from tui_orch.placement import plan

MiB, GiB = 1 << 20, 1 << 30


def service(body: str) -> str:
    """A manifest with one service ``web``: the body's first line is line 4, column 5."""
    return "services:\n  web:\n    image: nginx:1.27\n" + indent(dedent(body), "    ")


def web(body: str) -> ServiceSpec:
    return parse_manifest(service(body), "web.yaml", environ={}).services[0]


def errors(body: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        parse_manifest(service(body), "web.yaml", environ={})
    return [str(p) for p in info.value.problems]


# --------------------------------------------------------------------------- reading


def test_a_service_with_many_settings_reads_them_all() -> None:
    spec = web("""\
        privileged: true
        cap_add: [NET_ADMIN, CAP_SYS_TIME]
        cap_drop: [ALL]
        security_opt: [no-new-privileges:true]
        read_only: true
        init: true
        sysctls: [net.core.somaxconn=1024, net.ipv4.tcp_syncookies=0]
        ulimits: {nofile: {soft: 20000, hard: 40000}, nproc: 65535, core: -1}
        shm_size: 256m
        extra_hosts: ["db:10.0.0.5", "cache=10.0.0.6", "v6:[::1]"]
        dns: 10.0.0.2
        dns_search: [corp.internal, svc.internal]
        dns_opt: [ndots:2]
        devices: ["/dev/fuse", "/dev/ttyUSB0:/dev/modem:rw", {source: /dev/net/tun, permissions: r}]
        device_cgroup_rules: ["c 1:3 mr", "a *:* rwm"]
        group_add: [audio, 1001]
        runtime: runc
        pid: host
        ipc: shareable
        userns_mode: host
        oom_score_adj: -500
        cpu_shares: 512
        cpuset: 0-1
        pids_limit: 200
        mem_swappiness: 10
        mem_limit: 256m
        memswap_limit: 512m
        cpu_rt_runtime: 950ms
        cpu_rt_period: 1000000
        logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}
        blkio_config: {weight: 300, device_read_bps: [{path: /dev/sda, rate: 12mb}], device_write_iops: [{path: /dev/sda, rate: 30}]}
        gpus: all
        hostname: web-host
        platform: linux/x86_64
        stop_signal: SIGQUIT
        """)
    assert spec.stop_signal == "SIGQUIT"
    assert spec.resources.limits.memory == 256 * MiB
    assert spec.settings == ContainerSettings(
        privileged=True, cap_add=("NET_ADMIN", "CAP_SYS_TIME"), cap_drop=("ALL",),
        security_opt=("no-new-privileges:true",), read_only=True, init=True,
        sysctls=(("net.core.somaxconn", "1024"), ("net.ipv4.tcp_syncookies", "0")),
        ulimits=(Ulimit("nofile", 20000, 40000), Ulimit("nproc", 65535, 65535), Ulimit("core", -1, -1)),
        shm_size=256 * MiB, extra_hosts=(("db", "10.0.0.5"), ("cache", "10.0.0.6"), ("v6", "::1")),
        dns=("10.0.0.2",), dns_search=("corp.internal", "svc.internal"), dns_opt=("ndots:2",),
        devices=(DeviceMapping("/dev/fuse", "/dev/fuse"), DeviceMapping("/dev/ttyUSB0", "/dev/modem", "rw"),
                 DeviceMapping("/dev/net/tun", "/dev/net/tun", "r")),
        device_cgroup_rules=("c 1:3 mr", "a *:* rwm"), group_add=("audio", "1001"), runtime="runc", pid="host",
        ipc="shareable", userns_mode="host", oom_score_adj=-500, cpu_shares=512, cpuset="0-1", pids_limit=200,
        mem_swappiness=10, memswap_limit=512 * MiB, cpu_rt_runtime=950_000, cpu_rt_period=1_000_000,
        logging=LogConfig("json-file", (("max-file", "3"), ("max-size", "10m"))),
        blkio=BlkioConfig(weight=300, device_read_bps=(Throttle("/dev/sda", 12 * MiB),),
                          device_write_iops=(Throttle("/dev/sda", 30),)),
        gpus=(GpuRequest(),), hostname="web-host", platform="linux/amd64",
    )


def test_mapping_forms_read_as_the_list_forms() -> None:
    as_list = web('sysctls: ["net.core.somaxconn=1024"]\nextra_hosts: ["db:10.0.0.5", "db:10.0.0.6"]\n')
    as_map = web("sysctls: {net.core.somaxconn: 1024}\nextra_hosts: {db: [10.0.0.5, 10.0.0.6]}\n")
    assert as_list.settings == as_map.settings
    assert web("dns: [8.8.8.8, '::1']\n").settings.dns == ("8.8.8.8", "::1")


def test_service_level_resources_are_deploy_resources() -> None:
    spec = web("cpus: 0.5\nmem_limit: 1g\nmem_reservation: 256m\n")
    assert spec.resources == ResourceSpec(limits=Resources(0.5, GiB), reservations=Resources(0.0, 256 * MiB))
    same = web("cpus: 0.5\ndeploy: {resources: {limits: {cpus: '0.5'}}}\n")
    assert same.resources.limits.cpus == 0.5


@pytest.mark.parametrize(("body", "message"), [
    ("cap_add: [NET ADMIN]", "4:14: services.web.cap_add: expected a capability such as NET_ADMIN or CAP_SYS_TIME, got 'NET ADMIN'"),
    ("cap_drop: [NET_RAW, NET_RAW]", "4:15: services.web.cap_drop: 'NET_RAW' is listed twice; list it once"),
    ("cap_add: NET_ADMIN", "4:14: services.web.cap_add: expected a list, got 'NET_ADMIN'"),
    ("privileged: maybe", "4:17: services.web.privileged: expected true or false, got 'maybe'"),
    ("sysctls: [net.core.somaxconn]", "4:14: services.web.sysctls: sysctl 'net.core.somaxconn' has no value; write net.core.somaxconn=VALUE"),
    ("ulimits: {nofiles: 10}", "4:15: services.web.ulimits.nofiles: unknown ulimit 'nofiles'; expected one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack"),
    ("ulimits: {nofile: {soft: 10}}", "4:23: services.web.ulimits.nofile: missing hard: (write a single number, or both soft: and hard:)"),
    ("ulimits: {nofile: {soft: 20, hard: 10}}", "4:30: services.web.ulimits.nofile: soft (20) is above hard (10); the soft limit cannot exceed the hard one"),
    ("ulimits: {nofile: lots}", "4:23: services.web.ulimits.nofile: expected a whole number, got 'lots'"),
    ("shm_size: big", "4:15: services.web.shm_size: expected a size such as 512m or 2g, got 'big'"),
    ("extra_hosts: [db]", "4:19: services.web.extra_hosts: expected HOST:IP or HOST=IP, got 'db'"),
    ("extra_hosts: ['db:ten']", "4:19: services.web.extra_hosts: expected an IP address, got 'ten'"),
    ("extra_hosts: {db: 999.1.1.1}", "4:23: services.web.extra_hosts: expected an IP address, got '999.1.1.1'"),
    ("dns: [dns.example.org]", "4:10: services.web.dns: expected an IP address, got 'dns.example.org'"),
    ("devices: [ttyUSB0]", "4:15: services.web.devices[0]: expected a device path on the node such as /dev/ttyUSB0, got 'ttyUSB0' (CDI device names are not supported)"),
    ("devices: ['/dev/fuse:/dev/fuse:rwx']", "4:15: services.web.devices[0]: expected permissions made of r, w and m (such as rwm), got 'rwx'"),
    ("devices: [{target: /dev/x}]", "4:15: services.web.devices[0]: missing source: (the device on the node, such as /dev/ttyUSB0)"),
    ("device_cgroup_rules: ['c 1:3']", "4:26: services.web.device_cgroup_rules: expected a device cgroup rule such as 'c 1:3 mr' or 'a *:* rwm', got 'c 1:3'"),
    ("pid: service:db", "4:10: services.web.pid: pid: 'service:db' is not supported: it shares another container's namespace, and that container may run on another node; use host"),
    ("ipc: container:abc", "4:10: services.web.ipc: ipc: 'container:abc' is not supported: it shares another container's namespace, and that container may run on another node; use host or private or shareable or none"),
    ("pid: private", "4:10: services.web.pid: expected host, got 'private'"),
    ("cgroup: shared", "4:13: services.web.cgroup: expected one of host, private, got 'shared'"),
    ("oom_score_adj: 1001", "4:20: services.web.oom_score_adj: must be at most 1000, got 1001"),
    ("mem_swappiness: 101", "4:21: services.web.mem_swappiness: must be at most 100, got 101"),
    ("pids_limit: -2", "4:17: services.web.pids_limit: must be -1 or more, got -2"),
    ("cpuset: 0-a", "4:13: services.web.cpuset: expected a cpu list such as 0-3 or 0,2, got '0-a'"),
    ("memswap_limit: 1g", "4:5: services.web.memswap_limit: memswap_limit needs a memory limit: set mem_limit (or deploy.resources.limits.memory), or use -1"),
    ("mem_limit: 1g\nmemswap_limit: 512m", "5:5: services.web.memswap_limit: memswap_limit is memory plus swap: 512 MiB is below the memory limit (1 GiB)"),
    ("cpu_rt_runtime: 2s\ncpu_rt_period: 1s", "4:5: services.web.cpu_rt_runtime: cpu_rt_runtime (2000000 us) is above cpu_rt_period (1000000 us)"),
    ("cpus: 1\ndeploy: {resources: {limits: {cpus: 2}}}", "4:5: services.web.cpus: cpus (1) and deploy.resources.limits.cpus (2) differ; set it in one place"),
    ("mem_limit: 1g\ndeploy: {resources: {limits: {memory: 2g}}}", "4:5: services.web.mem_limit: mem_limit (1 GiB) and deploy.resources.limits.memory (2 GiB) differ; set it in one place"),
    ("mem_limit: 1g\nmem_reservation: 2g", "5:5: services.web.mem_reservation: 2 GiB is more than the memory limit (1 GiB)"),
    ("mem_limit: 100", "4:5: services.web.mem_limit: 100 B is below Docker's minimum of 6 MiB"),
    ("logging: {driver: json-file, opts: {}}", "4:34: services.web.logging.opts: unknown key; expected one of driver, options"),
    ("blkio_config: {weight: 5}", "4:28: services.web.blkio_config.weight: must be 10 or more, got 5"),
    ("blkio_config: {device_read_bps: [{path: /dev/sda}]}", "4:38: services.web.blkio_config.device_read_bps: expected {path: /dev/sda, rate: ...}, got keys path"),
    ("gpus: some", "4:11: services.web.gpus: expected all, or a list of {driver, count, device_ids, capabilities}, got 'some'"),
    ("gpus: [{count: 1, device_ids: ['0']}]", "4:12: services.web.gpus[0]: count and device_ids cannot be set together; set one"),
    ("platform: linux amd64", "4:15: services.web.platform: expected a platform such as linux/amd64 or linux/arm64 such as linux/arm64, got 'linux amd64'"),
    ("hostname: web_1", "4:15: services.web.hostname: expected a host name such as web-1, got 'web_1'"),
    ("mac_address: 02:42", "4:18: services.web.mac_address: expected a MAC address such as 02:42:ac:11:00:02, got '02:42'"),
])
def test_setting_errors(body: str, message: str) -> None:
    assert errors(body + "\n") == [f"web.yaml:{message}"]


def test_no_decision_says_a_setting_cannot_be_set_on_the_container() -> None:
    untrue = [f"{where}.{key}" for where, table in DECISIONS.items() for key, decision in table.items()
              if "cannot set" in decision.note]
    assert untrue == []


def test_a_privileged_service_is_noted_in_the_plan() -> None:
    spec = web("privileged: true\n")
    p = plan([spec], [NodeInfo("n1", Resources(2, 4 * GiB), platform="linux/amd64")])
    assert "note: web runs privileged: its containers control the node they run on (every device and capability)" \
        in p.describe().splitlines()


def test_validate_prints_the_settings(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(service("cap_add: [NET_ADMIN]\nread_only: true\nplatform: linux/arm64\n"))
    out = subprocess.run([sys.executable, "-m", "tui_orch", "validate", str(tmp_path / "compose.yaml")],
                         capture_output=True, text=True, check=True).stdout
    assert "    container: cap_add NET_ADMIN; read_only; platform linux/arm64" in out.splitlines()


# --------------------------------------------------------------------------- stored specs


def test_settings_survive_the_store_and_an_old_spec_reads_back_equal() -> None:
    spec = web("cap_add: [NET_ADMIN]\nulimits: {nofile: 10}\nlogging: {driver: local}\n"
               "blkio_config: {weight: 100}\nplatform: linux/arm64\ndevices: [/dev/fuse]\n")
    assert from_dict(ServiceSpec, to_dict(spec)) == spec
    plain = web("")
    stored_before = {k: v for k, v in to_dict(plain).items() if k != "settings"}  # as today's main stores it
    read_back = from_dict(ServiceSpec, stored_before)
    assert read_back == plain and read_back.digest() == plain.digest()


# --------------------------------------------------------------------------- the container request


def test_container_request_carries_the_settings_in_the_engines_words() -> None:
    spec = web("""\
        cap_add: [NET_ADMIN]
        read_only: true
        init: true
        sysctls: {net.core.somaxconn: 1024}
        ulimits: {nofile: {soft: 100, hard: 200}}
        shm_size: 64m
        extra_hosts: {db: 10.0.0.5}
        dns: [10.0.0.2]
        devices: ["/dev/fuse:/dev/fuse:rw"]
        pids_limit: 50
        logging: {driver: json-file, options: {max-size: 1m}}
        blkio_config: {weight: 300, device_read_bps: [{path: /dev/sda, rate: 1m}]}
        gpus: [{driver: nvidia, device_ids: ['0']}]
        hostname: web-host
        platform: linux/amd64
        """)
    req = container_request(spec, slot=1, node="n1", revision=1)
    assert req.host_config == {
        "CapAdd": ["NET_ADMIN"], "ReadonlyRootfs": True, "Init": True, "Sysctls": {"net.core.somaxconn": "1024"},
        "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}], "ShmSize": 64 * MiB, "ExtraHosts": ["db:10.0.0.5"],
        "Dns": ["10.0.0.2"], "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rw"}],
        "PidsLimit": 50, "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
        "BlkioWeight": 300, "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": MiB}],
        "DeviceRequests": [{"Driver": "nvidia", "Count": 0, "DeviceIDs": ["0"], "Capabilities": [["gpu"]], "Options": {}}],
    }
    assert (req.hostname, req.platform) == ("web-host", "linux/amd64")


def test_a_service_without_settings_sends_nothing_more() -> None:
    req = container_request(web(""), slot=1, node="n1", revision=1)
    assert req.host_config == {} and (req.hostname, req.domainname, req.mac_address, req.platform) == (None,) * 4


# --------------------------------------------------------------------------- platform


def test_platform_names_as_images_and_engines_give_them() -> None:
    assert engine_platform({"OSType": "linux", "Architecture": "x86_64"}) == "linux/amd64"
    assert engine_platform({"OSType": "linux", "Architecture": "aarch64"}) == "linux/arm64"
    assert engine_platform({}) == ""
    assert node_platform("linux", "armv7l") == "linux/arm/v7"
    assert normalise_platform("Linux/ARM64/v8") == "linux/arm64"
    assert normalise_platform("linux/armhf") == "linux/arm/v7"
    assert platform_matches("linux/arm", "linux/arm/v7") and platform_matches("linux", "linux/arm64")
    assert not platform_matches("linux/arm/v6", "linux/arm/v7")
    assert not platform_matches("linux/amd64", "")  # unknown: never


def _node(name: str, platform: str) -> NodeInfo:
    return NodeInfo(name, Resources(4, 8 * GiB), hostname=name, platform=platform)


def test_a_replica_lands_only_on_nodes_of_its_platform() -> None:
    nodes = [_node("a1", "linux/amd64"), _node("a2", "linux/amd64"), _node("r1", "linux/arm64"), _node("u", "")]
    spec = dataclasses.replace(web("platform: linux/arm64\n"), replicas=3)
    p = plan([spec], nodes)
    assert {s.node for s in p.starts} == {"r1"} and len(p.starts) == 3
    assert {s.node for s in plan([dataclasses.replace(spec, settings=ContainerSettings())], nodes).starts} > {"r1"}


def test_the_plan_says_why_no_node_of_the_platform_fits() -> None:
    nodes = [_node("n1", "linux/amd64"), _node("n2", "linux/amd64"), _node("n3", "")]
    p = plan([web("platform: linux/arm64\n")], nodes)
    assert [str(u) for u in p.unschedulable] == [
        "web.1: no node fits: 3 run linux/amd64 or an unknown platform, not linux/arm64 (the service's platform)"]


def test_a_global_service_runs_only_on_nodes_of_its_platform() -> None:
    nodes = [_node("a1", "linux/amd64"), _node("r1", "linux/arm64"), _node("r2", "linux/arm64")]
    spec = dataclasses.replace(web("platform: linux/arm64\n"), mode="global")
    p = plan([spec], nodes)
    assert sorted(s.node for s in p.starts) == ["r1", "r2"]
    assert p.notes == ("web runs on linux/arm64 nodes only (its platform): none on a1 (linux/amd64)",)


async def test_simulated_nodes_report_a_platform_to_placement() -> None:
    from tui_orch.inventory import Inventory
    from tui_orch.model import NodeSpec
    from tui_orch.nodes.fleet import Fleet
    from tui_orch.nodes.sim.simulator import Simulator, set_default_simulator

    old = set_default_simulator(Simulator(seed=3))
    try:
        async with Fleet(Inventory(nodes=(NodeSpec(name="sim-0", simulated=True),))) as fleet:
            assert [i.platform for i in fleet.node_infos()] == ["linux/amd64"]
            assert plan([web("platform: linux/arm64\n")], fleet.node_infos()).unschedulable[0].reason == \
                "no node fits: 1 runs linux/amd64, not linux/arm64 (the service's platform)"
    finally:
        set_default_simulator(old)


def test_deploy_limits_pids_is_pids_limit() -> None:
    assert web("deploy: {resources: {limits: {pids: 100}}}\n").settings.pids_limit == 100
    assert web("pids_limit: 100\ndeploy: {resources: {limits: {pids: 100}}}\n").settings.pids_limit == 100
    assert errors("pids_limit: 50\ndeploy: {resources: {limits: {pids: 100}}}\n") == [
        "web.yaml:4:5: services.web.pids_limit: pids_limit (50) and deploy.resources.limits.pids (100) differ; "
        "set it in one place"]


@pytest.mark.parametrize(("body", "message"), [
    ("network_mode: host\nsysctls: {net.core.somaxconn: 1024}", "5:5: services.web.sysctls: sysctl net.core.somaxconn cannot be set with network_mode: host (the container shares the node's network namespace); set it on the node, or remove network_mode: host"),
    ("ipc: host\nsysctls: [kernel.shmmax=1000]", "5:5: services.web.sysctls: sysctl kernel.shmmax cannot be set with ipc: host (the container shares the node's IPC namespace); set it on the node, or remove ipc: host"),
    ("uts: host\nhostname: web", "5:5: services.web.hostname: hostname cannot be set with uts: host (the container has the node's own name); remove one"),
    ("network_mode: host\nmac_address: 02:42:ac:11:00:02", "5:5: services.web.mac_address: mac_address cannot be set with network_mode: host (the container has no network interface of its own); remove one"),
])
def test_settings_that_conflict_with_the_nodes_namespaces(body: str, message: str) -> None:
    assert errors(body + "\n") == [f"web.yaml:{message}"]
    assert web("network_mode: host\nsysctls: {kernel.msgmax: 65536}\n").settings.sysctls == (("kernel.msgmax", "65536"),)


REAL_WORLD = """\
services:
  es:
    image: elasticsearch:8.13.0
    ulimits:
      memlock: {soft: -1, hard: -1}
      nofile: {soft: 65536, hard: 65536}
    mem_limit: 1G
    cap_add: [IPC_LOCK]
    sysctls:
      - net.core.somaxconn=1024
  gpu:
    image: nvidia/cuda:12.0-base
    runtime: nvidia
    shm_size: '2gb'
    privileged: 'true'
    devices: ["/dev/dri:/dev/dri"]
    group_add: [video]
    device_cgroup_rules: ['c 188:* rmw']
  proxy:
    image: traefik:3
    security_opt: [no-new-privileges:true, "seccomp:unconfined"]
    extra_hosts: ["host.docker.internal:host-gateway"]
    logging:
      driver: json-file
      options: {max-size: "200k", max-file: "10", tag: "{{.Name}}"}
    init: true
    pid: "host"
    dns: 1.1.1.1
    dns_search: example.com
    oom_score_adj: "-500"
    cpuset: "0,1"
    mem_swappiness: 0
"""


def test_settings_as_real_compose_files_write_them() -> None:
    m = parse_manifest(REAL_WORLD, "compose.yaml", environ={})
    assert list(m.warnings) == []
    es, gpu, proxy = (m.service(n) for n in ("es", "gpu", "proxy"))
    assert es.settings.ulimits[0] == Ulimit("memlock", -1, -1) and es.resources.limits.memory == GiB
    assert gpu.settings.privileged and gpu.settings.runtime == "nvidia" and gpu.settings.shm_size == 2 * GiB
    assert proxy.settings.extra_hosts == (("host.docker.internal", "host-gateway"),)
    assert dict(proxy.settings.logging.options)["tag"] == "{{.Name}}"  # type: ignore[union-attr]
