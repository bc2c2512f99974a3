"""Checks of the container settings against the rest of the service, and the service-level
``cpus`` / ``mem_limit`` / ``mem_reservation`` read as ``deploy.resources`` (as Compose does)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tui_orch.manifest.deploy import MIN_MEMORY
from tui_orch.manifest.reader import Entries, Reader, join
from tui_orch.model import Resources, ResourceSpec
from tui_orch.units import format_bytes

# service key -> (ResourceSpec part, Resources field, how deploy.resources names it)
_RESOURCE_KEYS = {
    "cpus": ("limits", "cpus", "deploy.resources.limits.cpus"),
    "mem_limit": ("limits", "memory", "deploy.resources.limits.memory"),
    "mem_reservation": ("reservations", "memory", "deploy.resources.reservations.memory"),
}


def _shown(field: str, value: float) -> str:
    return format_bytes(int(value)) if field == "memory" else f"{value:g}"


def service_resources(r: Reader, fields: dict[str, Any], entries: Entries, resources: ResourceSpec | None,
                      path: str) -> ResourceSpec:
    """``deploy.resources`` with the service-level keys merged in; a value set in both places
    that differs is an error (Compose refuses it too)."""
    out = resources or ResourceSpec()
    for key, (part, field, other) in _RESOURCE_KEYS.items():
        if key not in fields:
            continue
        value, where = fields[key], entries[key][0]
        current: Resources = getattr(out, part)
        before = getattr(current, field)
        if field == "memory" and 0 < value < MIN_MEMORY:
            r.error(where, join(path, key), f"{format_bytes(value)} is below Docker's minimum of 6 MiB")
            continue
        if before and before != value:
            r.error(where, join(path, key), f"{key} ({_shown(field, value)}) and {other} ({_shown(field, before)}) "
                                            f"differ; set it in one place")
            continue
        out = dataclasses.replace(out, **{part: dataclasses.replace(current, **{field: value})})
    limits, reservations = out.limits, out.reservations
    if "mem_reservation" in fields and limits.memory and reservations.memory > limits.memory:
        r.error(entries["mem_reservation"][0], join(path, "mem_reservation"),
                f"{format_bytes(reservations.memory)} is more than the memory limit ({format_bytes(limits.memory)})")
    return out


# sysctl prefixes that belong to a namespace: refused by the engine when that namespace is the node's
_NAMESPACED = (("net.", "network_mode", "the node's network namespace"),
               (("kernel.msg", "kernel.sem", "kernel.shm", "fs.mqueue."), "ipc", "the node's IPC namespace"))


def _namespaces(r: Reader, fields: dict[str, Any], entries: Entries, path: str) -> None:
    """Settings that conflict with sharing a namespace of the node."""
    for prefixes, key, namespace in _NAMESPACED:
        if fields.get(key) != "host":
            continue
        for name, _ in fields.get("sysctls", ()):
            if name.startswith(prefixes):
                r.error(entries["sysctls"][0], join(path, "sysctls"),
                        f"sysctl {name} cannot be set with {key}: host (the container shares {namespace}); "
                        f"set it on the node, or remove {key}: host")
    if fields.get("uts") == "host" and "hostname" in fields:
        r.error(entries["hostname"][0], join(path, "hostname"),
                "hostname cannot be set with uts: host (the container has the node's own name); remove one")
    if "mac_address" in fields and fields.get("network_mode") == "host":
        r.error(entries["mac_address"][0], join(path, "mac_address"),
                "mac_address cannot be set with network_mode: host (the container has no network interface of "
                "its own); remove one")


def pids_limit(r: Reader, fields: dict[str, Any], entries: Entries, deploy_pids: int, path: str) -> int:
    """``deploy.resources.limits.pids`` as the service's pids_limit; both set and different is an error."""
    own = fields.get("pids_limit")
    if own is not None and own != deploy_pids:
        r.error(entries["pids_limit"][0], join(path, "pids_limit"),
                f"pids_limit ({own}) and deploy.resources.limits.pids ({deploy_pids}) differ; set it in one place")
    return deploy_pids


def check_settings(r: Reader, fields: dict[str, Any], entries: Entries, spec: dict[str, Any], path: str) -> None:
    """What the engine would refuse at creation, said while validating instead."""
    resources: ResourceSpec = spec.get("resources") or ResourceSpec()
    swap = fields.get("memswap_limit")
    if swap is not None and swap != -1:
        limit = resources.limits.memory
        where = entries["memswap_limit"][0]
        if not limit:
            r.error(where, join(path, "memswap_limit"), "memswap_limit needs a memory limit: set mem_limit "
                                                       "(or deploy.resources.limits.memory), or use -1")
        elif swap < limit:
            r.error(where, join(path, "memswap_limit"), f"memswap_limit is memory plus swap: "
                                                       f"{format_bytes(swap)} is below the memory limit "
                                                       f"({format_bytes(limit)})")
    _namespaces(r, fields, entries, path)
    period, runtime = fields.get("cpu_rt_period"), fields.get("cpu_rt_runtime")
    if period is not None and runtime is not None and runtime > period:
        r.error(entries["cpu_rt_runtime"][0], join(path, "cpu_rt_runtime"),
                f"cpu_rt_runtime ({runtime} us) is above cpu_rt_period ({period} us)")


__all__ = ["check_settings", "pids_limit", "service_resources"]
