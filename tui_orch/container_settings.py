"""The container settings of a service that Docker's container API takes as they are
(``cap_add``, ``sysctls``, ``ulimits``, ``logging``, ``platform``...): frozen values, no I/O.

One nested value in ``ServiceSpec.settings`` rather than thirty more fields of ServiceSpec:
the scheduler and the rollout logic never read them (except ``platform``), the container
request passes them on whole, and a spec stored before they existed reads back with the
default (nothing set), so it compares and digests equal to the same manifest read today.

Every field's default means "not set: the engine's default". Sizes are bytes, cpu times
microseconds, as the engine counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui_orch.units import format_bytes

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Ulimit:
    name: str  # nofile, nproc, core...
    soft: int
    hard: int


@dataclass(frozen=True)
class DeviceMapping:
    source: str  # the device on the node, e.g. /dev/ttyUSB0
    target: str  # its path in the container
    permissions: str = "rwm"


@dataclass(frozen=True)
class LogConfig:
    driver: str = ""  # "" = the engine's default driver (with the options given)
    options: Pairs = ()


@dataclass(frozen=True)
class Throttle:
    """One device's block IO weight or rate limit (``blkio_config``)."""

    path: str
    value: int  # a weight (10-1000), bytes a second, or operations a second


@dataclass(frozen=True)
class BlkioConfig:
    weight: int = 0  # 0 = not set
    weight_device: tuple[Throttle, ...] = ()
    device_read_bps: tuple[Throttle, ...] = ()
    device_write_bps: tuple[Throttle, ...] = ()
    device_read_iops: tuple[Throttle, ...] = ()
    device_write_iops: tuple[Throttle, ...] = ()


@dataclass(frozen=True)
class GpuRequest:
    """``gpus:`` (Docker's DeviceRequests): ``all`` is count -1 with capability gpu."""

    driver: str = ""
    count: int = -1  # -1 = all
    device_ids: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ("gpu",)
    options: Pairs = ()


@dataclass(frozen=True)
class ContainerSettings:
    # security
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    read_only: bool = False
    init: bool | None = None
    userns_mode: str | None = None
    group_add: tuple[str, ...] = ()
    # kernel and namespaces
    sysctls: Pairs = ()
    ulimits: tuple[Ulimit, ...] = ()
    pid: str | None = None
    ipc: str | None = None
    uts: str | None = None
    cgroup: str | None = None  # the cgroup namespace: host or private
    cgroup_parent: str | None = None
    runtime: str | None = None
    # devices
    devices: tuple[DeviceMapping, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()
    gpus: tuple[GpuRequest, ...] = ()
    # names and the network as the container sees it
    hostname: str | None = None
    domainname: str | None = None
    mac_address: str | None = None
    extra_hosts: tuple[tuple[str, str], ...] = ()  # (host, ip), in the order written
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_opt: tuple[str, ...] = ()
    # memory, processes, cpu, disk
    shm_size: int | None = None
    mem_swappiness: int | None = None
    memswap_limit: int | None = None  # bytes; -1 = unlimited swap
    oom_score_adj: int | None = None
    oom_kill_disable: bool | None = None
    pids_limit: int | None = None  # -1 = unlimited
    cpu_shares: int | None = None
    cpuset: str | None = None
    cpu_count: int | None = None
    cpu_percent: int | None = None
    cpu_period: int | None = None  # microseconds
    cpu_quota: int | None = None  # microseconds
    cpu_rt_period: int | None = None  # microseconds
    cpu_rt_runtime: int | None = None  # microseconds
    blkio: BlkioConfig | None = None
    storage_opt: Pairs = ()
    # logs and where the image runs
    logging: LogConfig | None = None
    platform: str | None = None  # os[/arch[/variant]], normalised (linux/amd64)


_SIZES = ("shm_size", "memswap_limit")


def describe(s: ContainerSettings) -> str:
    """The settings that are set, in one line for ``validate`` (keys as Compose writes them)."""
    parts: list[str] = []
    default = ContainerSettings()
    for name in s.__dataclass_fields__:
        value = getattr(s, name)
        if value == getattr(default, name):
            continue
        if value is True:
            parts.append(name)
        elif name in _SIZES and isinstance(value, int) and value > 0:
            parts.append(f"{name} {format_bytes(value)}")
        elif isinstance(value, tuple):
            parts.append(f"{name} {','.join(_short(v) for v in value)}")
        else:
            parts.append(f"{name} {_short(value)}")
    return "; ".join(parts)


def _short(value: object) -> str:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return f"{value[0]}={value[1]}"
    if isinstance(value, Ulimit):
        return f"{value.name}={value.soft}:{value.hard}"
    if isinstance(value, DeviceMapping):
        return f"{value.source}:{value.target}:{value.permissions}"
    if isinstance(value, LogConfig):
        return " ".join([value.driver or "default", *(f"{k}={v}" for k, v in value.options)])
    if isinstance(value, GpuRequest):
        which = ",".join(value.device_ids) or ("all" if value.count < 0 else str(value.count))
        return f"{value.driver or 'any driver'} {which}"
    if isinstance(value, BlkioConfig):
        return "set"  # weights and rates: see the manifest
    return str(value)


# uname -m / docker info's Architecture -> the OCI name images and ``platform:`` use
_ARCH_NAMES = {
    "x86_64": "amd64", "x86-64": "amd64", "x64": "amd64", "aarch64": "arm64", "armv8l": "arm64",
    "armv7l": "arm/v7", "armv7": "arm/v7", "armhf": "arm/v7", "armv6l": "arm/v6", "armel": "arm/v6",
    "i386": "386", "i486": "386", "i586": "386", "i686": "386", "x86": "386",
}


def node_platform(os_type: str, architecture: str) -> str:
    """A node's platform as images name it, from what its engine reports (OSType,
    Architecture): ``linux``, ``x86_64`` -> ``linux/amd64``; "" when the engine said nothing."""
    arch = architecture.strip().lower()
    if not arch:
        return ""
    return f"{(os_type.strip() or 'linux').lower()}/{_ARCH_NAMES.get(arch, arch)}"


def normalise_platform(text: str) -> str:
    """``linux/arm64/v8`` -> ``linux/arm64`` (v8 is arm64's only variant), ``linux/x86_64`` ->
    ``linux/amd64``; lowercase. The os alone stays as it is (``linux``)."""
    os_type, _, rest = text.strip().lower().partition("/")
    if not rest:
        return os_type
    arch, _, variant = rest.partition("/")
    arch = _ARCH_NAMES.get(arch, arch)
    if arch == "arm64" and variant == "v8":
        variant = ""
    if "/" in arch:  # arm/v7 from an alias
        arch, _, alias_variant = arch.partition("/")
        variant = variant or alias_variant
    return f"{os_type}/{arch}/{variant}" if variant else f"{os_type}/{arch}"


def platform_matches(wanted: str, node: str) -> bool:
    """Whether a node of platform ``node`` (``linux/amd64``; "" = unknown) runs an image of
    platform ``wanted``: same os, same architecture, and same variant when ``wanted`` names
    one. A node of unknown platform matches nothing: a replica never lands on the wrong one."""
    if not node:
        return False
    w_os, _, w_rest = wanted.partition("/")
    n_os, _, n_rest = node.partition("/")
    if w_os != n_os:
        return False
    if not w_rest:
        return True
    w_arch, _, w_variant = w_rest.partition("/")
    n_arch, _, n_variant = n_rest.partition("/")
    return w_arch == n_arch and (not w_variant or w_variant == n_variant)


__all__ = ["BlkioConfig", "ContainerSettings", "DeviceMapping", "GpuRequest", "LogConfig", "Throttle", "Ulimit", "describe",
           "node_platform",
           "normalise_platform", "platform_matches"]
