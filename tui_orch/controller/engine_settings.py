"""A service's ContainerSettings in the Docker Engine API's own words (HostConfig fields).

Plain data, built here so that the controller never sees docker-py: nodes/docker_api.py
merges ``host_config`` into the HostConfig it sends (a field set here wins), and passes
hostname, domainname, mac address and platform to the create call. Fields left at their
default are not sent at all, so the engine applies its own defaults and a container of a
service without settings is created exactly as before.
"""

from __future__ import annotations

from typing import Any

from tui_orch.container_settings import BlkioConfig, ContainerSettings, GpuRequest, LogConfig, Throttle

# ContainerSettings field -> HostConfig field, for values the API takes as they are
_AS_IS: dict[str, str] = {
    "privileged": "Privileged",
    "read_only": "ReadonlyRootfs",
    "init": "Init",
    "userns_mode": "UsernsMode",
    "pid": "PidMode",
    "ipc": "IpcMode",
    "uts": "UTSMode",
    "cgroup": "CgroupnsMode",
    "cgroup_parent": "CgroupParent",
    "runtime": "Runtime",
    "shm_size": "ShmSize",
    "mem_swappiness": "MemorySwappiness",
    "memswap_limit": "MemorySwap",
    "oom_score_adj": "OomScoreAdj",
    "oom_kill_disable": "OomKillDisable",
    "pids_limit": "PidsLimit",
    "cpu_shares": "CpuShares",
    "cpuset": "CpusetCpus",
    "cpu_count": "CpuCount",
    "cpu_percent": "CpuPercent",
    "cpu_period": "CpuPeriod",
    "cpu_quota": "CpuQuota",
    "cpu_rt_period": "CpuRealtimePeriod",
    "cpu_rt_runtime": "CpuRealtimeRuntime",
}
# tuples of strings -> lists
_LISTS: dict[str, str] = {
    "cap_add": "CapAdd",
    "cap_drop": "CapDrop",
    "security_opt": "SecurityOpt",
    "group_add": "GroupAdd",
    "device_cgroup_rules": "DeviceCgroupRules",
    "dns": "Dns",
    "dns_search": "DnsSearch",
    "dns_opt": "DnsOptions",
}
_DEFAULT = ContainerSettings()


def host_config(s: ContainerSettings) -> dict[str, Any]:
    """The HostConfig fields of ``s`` that are set (an empty dict for the default settings)."""
    out: dict[str, Any] = {}
    for name, key in _AS_IS.items():
        value = getattr(s, name)
        if value != getattr(_DEFAULT, name):
            out[key] = value
    for name, key in _LISTS.items():
        if getattr(s, name):
            out[key] = list(getattr(s, name))
    if s.sysctls:
        out["Sysctls"] = dict(s.sysctls)
    if s.storage_opt:
        out["StorageOpt"] = dict(s.storage_opt)
    if s.ulimits:
        out["Ulimits"] = [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in s.ulimits]
    if s.extra_hosts:
        out["ExtraHosts"] = [f"{host}:{ip}" for host, ip in s.extra_hosts]
    if s.devices:
        out["Devices"] = [{"PathOnHost": d.source, "PathInContainer": d.target, "CgroupPermissions": d.permissions}
                          for d in s.devices]
    if s.gpus:
        out["DeviceRequests"] = [_device_request(g) for g in s.gpus]
    if s.logging is not None:
        out["LogConfig"] = _log_config(s.logging)
    if s.blkio is not None:
        out.update(_blkio(s.blkio))
    return out


def _device_request(g: GpuRequest) -> dict[str, Any]:
    return {"Driver": g.driver, "Count": g.count, "DeviceIDs": list(g.device_ids) or None,
            "Capabilities": [list(g.capabilities)], "Options": dict(g.options)}


def _log_config(log: LogConfig) -> dict[str, Any]:
    # The engine takes an empty Type as "the daemon's default driver" with these options.
    return {"Type": log.driver, "Config": dict(log.options)}


def _throttles(items: tuple[Throttle, ...], field: str) -> list[dict[str, Any]]:
    return [{"Path": t.path, field: t.value} for t in items]


def _blkio(b: BlkioConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if b.weight:
        out["BlkioWeight"] = b.weight
    for name, key, field in (
        ("weight_device", "BlkioWeightDevice", "Weight"),
        ("device_read_bps", "BlkioDeviceReadBps", "Rate"),
        ("device_write_bps", "BlkioDeviceWriteBps", "Rate"),
        ("device_read_iops", "BlkioDeviceReadIOps", "Rate"),
        ("device_write_iops", "BlkioDeviceWriteIOps", "Rate"),
    ):
        items = getattr(b, name)
        if items:
            out[key] = _throttles(items, field)
    return out


__all__ = ["host_config"]
