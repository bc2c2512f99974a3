"""What tui-orch does with each Compose key: read it, ignore it with a warning, or reject it.

One table per place a key can appear. README.md (section "Manifests") shows the same tables;
a test checks that every key here is named there. Keys starting with ``x-`` are extension
keys and are ignored everywhere, as in Compose.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from tui_orch.manifest.reader import Entries, Reader, join

Action = Literal["supported", "warn", "reject"]


@dataclass(frozen=True)
class Decision:
    action: Action
    note: str  # supported: the forms read; warn/reject: the message shown (what to do instead)


def _s(note: str) -> Decision:
    return Decision("supported", note)


def _w(note: str) -> Decision:
    return Decision("warn", note)


def _r(note: str) -> Decision:
    return Decision("reject", note)


_UNSAFE = (
    "not supported: tui-orch cannot set it on the container, and running the container "
    "without it would change what it may do; remove it"
)
_STATE = (
    "not supported: replicas move between nodes and their files would not follow; keep state "
    "in the image or in an external store"
)
_SECRETS = "not supported: pass values through environment or env_file, or bake files into the image"
_UNDER_DEPLOY = "not a service key: it belongs under deploy: (deploy.{key})"

TOP: dict[str, Decision] = {
    "services": _s("required; a mapping of service name -> service"),
    "name": _s("the project name: lowercase letters, digits, '-' and '_'"),
    "version": _w("obsolete and ignored (as in Compose v2); remove it"),
    "networks": _w("ignored: tui-orch creates no networks; set each service's network_mode (host recommended)"),
    "volumes": _w("ignored: named volumes are not supported (service volumes are rejected)"),
    "secrets": _w("ignored: secrets are not supported; pass values through environment or env_file"),
    "configs": _w("ignored: configs are not supported; bake files into the image"),
    "include": _r("not supported: pass each Compose file to tui-orch on its own"),
}

SERVICE: dict[str, Decision] = {
    "image": _s("required unless build: is set; an image reference such as nginx:1.27 or registry.example.org/app@sha256:..."),
    "command": _s("a string (split into words like a shell) or a list"),
    "entrypoint": _s("a string (split into words like a shell) or a list; [] clears the image's"),
    "environment": _s("a list of KEY=VALUE / KEY, or a mapping; KEY alone takes the value from the environment"),
    "env_file": _s("a path or a list of paths / {path, required}, relative to the manifest's folder"),
    "ports": _s("short form \"[IP:][HOST:]CONTAINER[/PROTOCOL]\", or {target, published, protocol, host_ip, mode}"),
    "network_mode": _s("host (recommended), bridge or none"),
    "labels": _s("a list of KEY=VALUE or a mapping"),
    "healthcheck": _s("test, interval, timeout, retries, start_period, disable"),
    "stop_grace_period": _s("a duration; default 10s"),
    "stop_signal": _s("a signal name such as SIGTERM or SIGQUIT"),
    "restart": _s("no, always, on-failure[:N], unless-stopped; sets the restart policy when deploy.restart_policy is absent"),
    "user": _s("a user name or uid[:gid]"),
    "working_dir": _s("an absolute path"),
    "deploy": _s("mode, replicas, resources, restart_policy, update_config, rollback_config, placement, labels"),
    "scale": _s("read as deploy.replicas (set one of the two)"),
    "build": _s("a context folder, or context, dockerfile, dockerfile_inline, args, target, labels...; built at apply, tagged as image: or <project>-<service>"),
    "depends_on": _w("ignored: services start together, in no order, and no condition is waited for; make each service retry what it needs"),
    "container_name": _w("ignored: tui-orch names each container after its service and replica"),
    "hostname": _w("ignored: containers keep the hostname Docker gives them"),
    "domainname": _w("ignored: containers keep the domain name Docker gives them"),
    "links": _w("ignored: there are no service links; reach other services on their published ports"),
    "external_links": _w("ignored: there are no service links; reach other services on their published ports"),
    "networks": _w("ignored: tui-orch creates no networks; use network_mode (host recommended)"),
    "expose": _w("ignored: only ports: are published"),
    "logging": _w("ignored: containers use each node's default logging driver"),
    "profiles": _w("ignored: every service of the file is deployed"),
    "pull_policy": _w("ignored: tui-orch brings a missing image to a node itself (pull, or copy over SSH)"),
    "platform": _w("ignored: each node runs the image for its own platform"),
    "stdin_open": _w("ignored: replicas run detached, without input"),
    "tty": _w("ignored: replicas run without a terminal"),
    "annotations": _w("ignored: annotations are not set on containers"),
    "attach": _w("ignored: logs are read from each replica on demand"),
    "develop": _w("ignored: compose watch is a development feature"),
    "pids_limit": _w("ignored: no pids limit is set"),
    "label_file": _r("not supported: put the labels under labels:"),
    "extends": _r("not supported: share settings with a YAML anchor and a merge key (<<: *base)"),
    "volumes": _r(_STATE),
    "volumes_from": _r(_STATE),
    "tmpfs": _r(_STATE),
    "secrets": _r(_SECRETS),
    "configs": _r(_SECRETS),
    "cpus": _r("not supported here: write it as deploy.resources.limits.cpus"),
    "mem_limit": _r("not supported here: write it as deploy.resources.limits.memory"),
    "mem_reservation": _r("not supported here: write it as deploy.resources.reservations.memory"),
    **{key: _r(_UNSAFE) for key in (
        "privileged", "cap_add", "cap_drop", "security_opt", "devices", "device_cgroup_rules",
        "userns_mode", "pid", "ipc", "uts", "cgroup", "cgroup_parent", "group_add", "sysctls",
        "runtime", "isolation", "gpus", "credential_spec", "use_api_socket", "read_only", "init",
        "ulimits", "shm_size", "oom_kill_disable", "oom_score_adj", "storage_opt", "blkio_config",
        "extra_hosts", "dns", "dns_opt", "dns_search", "mac_address", "post_start", "pre_stop",
        "provider", "mem_swappiness", "memswap_limit", "cpu_count", "cpu_percent", "cpu_period",
        "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpuset", "cpu_shares",
    )},
    **{key: _r(_UNDER_DEPLOY.format(key=key)) for key in (
        "replicas", "mode", "resources", "placement", "restart_policy", "update_config",
        "rollback_config", "endpoint_mode",
    )},
}

HEALTHCHECK: dict[str, Decision] = {
    "test": _s("a string (run with the container's shell) or a list starting with CMD, CMD-SHELL or NONE"),
    "interval": _s("a duration; default 30s"),
    "timeout": _s("a duration; default 30s"),
    "retries": _s("a whole number >= 1; default 3"),
    "start_period": _s("a duration; default 0s"),
    "disable": _s("true turns the image's check off"),
    "start_interval": _w("ignored: the engine's default applies during start_period"),
}

DEPLOY: dict[str, Decision] = {
    "mode": _s("replicated (default) or global (one replica on every node)"),
    "replicas": _s("a whole number >= 0; default 1"),
    "resources": _s("limits and reservations of cpus and memory"),
    "restart_policy": _s("condition, delay, max_attempts, window"),
    "update_config": _s("parallelism, delay, failure_action, monitor, max_failure_ratio, order"),
    "rollback_config": _s("parallelism, delay, failure_action, monitor, max_failure_ratio, order"),
    "placement": _s("constraints, preferences, max_replicas_per_node"),
    "labels": _s("merged into the container labels (the service's own labels win)"),
    "endpoint_mode": _w("ignored: there are no virtual IPs; replicas are reached on their node's published ports"),
}

LIMITS: dict[str, Decision] = {
    "cpus": _s("cores, such as 0.5 or 2"),
    "memory": _s("a size such as 512m or 2g"),
    "pids": _w("ignored: no pids limit is set"),
}

RESERVATIONS: dict[str, Decision] = {
    "cpus": _s("cores set aside for each replica when placing it"),
    "memory": _s("memory set aside for each replica when placing it"),
    "devices": _w("ignored: devices (GPUs) are not reserved; pin the service with a node.labels constraint"),
    "generic_resources": _w("ignored: generic resources are not reserved; pin the service with a node.labels constraint"),
}

RESOURCES: dict[str, Decision] = {
    "limits": _s("cpus, memory"),
    "reservations": _s("cpus, memory"),
}

RESTART_POLICY: dict[str, Decision] = {
    "condition": _s("none, on-failure or any; default any"),
    "delay": _s("a duration; default 5s"),
    "max_attempts": _s("a whole number; default 0 = unlimited"),
    "window": _s("a duration; default 0 = attempts are counted forever"),
}

UPDATE_CONFIG: dict[str, Decision] = {
    "parallelism": _s("a whole number; default 1; 0 = all at once"),
    "delay": _s("a duration; default 0s"),
    "failure_action": _s("pause, continue or rollback (rollback_config: pause or continue); default pause"),
    "monitor": _s("a duration; default 5s"),
    "max_failure_ratio": _s("a number from 0 to 1; default 0"),
    "order": _s("stop-first or start-first; default stop-first"),
}

PLACEMENT: dict[str, Decision] = {
    "constraints": _s("a list of 'KEY == VALUE' / 'KEY != VALUE' on node.hostname, node.id, node.role, node.labels.NAME"),
    "preferences": _s("a list of {spread: node.labels.NAME}"),
    "max_replicas_per_node": _s("a whole number; default 0 = no cap"),
}

PORT: dict[str, Decision] = {
    "target": _s("the container port (required)"),
    "published": _s("the host port; absent: a dynamic port per replica"),
    "protocol": _s("tcp (default) or udp"),
    "host_ip": _s("the host address to publish on"),
    "mode": _s("host (default); ingress is read as host, with a warning"),
    "name": _w("ignored: port names are not used"),
    "app_protocol": _w("ignored: the application protocol is not used"),
}

BUILD: dict[str, Decision] = {
    "context": _s("a folder on this machine, relative to the manifest's folder; default ."),
    "dockerfile": _s("the Dockerfile, relative to the context; default Dockerfile"),
    "dockerfile_inline": _s("the Dockerfile's text (instead of dockerfile)"),
    "args": _s("build arguments: a list of KEY=VALUE / KEY, or a mapping"),
    "target": _s("the stage of a multi-stage Dockerfile to build"),
    "labels": _s("labels set on the image: a list of KEY=VALUE or a mapping"),
    "network": _s("the network of RUN steps: default, host or none"),
    "shm_size": _s("the size of /dev/shm for RUN steps, such as 256m"),
    "extra_hosts": _s("HOST:IP entries added to /etc/hosts of RUN steps"),
    "cache_from": _s("images the engine may take cached layers from"),
    "no_cache": _s("true: build every step again"),
    "pull": _s("true: pull a newer base image first"),
    "cache_to": _w("ignored: the engine's build API exports no cache"),
    "tags": _w("ignored: the image is tagged as image: (or <project>-<service>) and by its id"),
    "platforms": _w("ignored: the image is built for the build engine's platform"),
    "isolation": _w("ignored: isolation applies to Windows engines only"),
    "ssh": _r("not supported: the engine's build API forwards no SSH agent; fetch private sources before the build"),
    "secrets": _r("not supported: the engine's build API takes no build secrets; do not bake secrets into images"),
    "additional_contexts": _r("not supported: the engine's build API takes one context; copy what it needs into it"),
    "privileged": _r("not supported: the engine's build API runs no privileged build steps; remove it"),
    "entitlements": _r("not supported: the engine's build API grants no entitlements; remove it"),
    "ulimits": _r("not supported: the engine's build API sets no ulimits on build steps; remove it"),
}

ENV_FILE: dict[str, Decision] = {
    "path": _s("the file, relative to the manifest's folder"),
    "required": _s("false: a missing file is skipped; default true"),
    "format": _r("not supported: env files are read in the usual KEY=VALUE format; remove format"),
}

TABLES: dict[str, dict[str, Decision]] = {
    "top level": TOP,
    "services.NAME": SERVICE,
    "services.NAME.healthcheck": HEALTHCHECK,
    "services.NAME.deploy": DEPLOY,
    "deploy.resources": RESOURCES,
    "deploy.resources.limits": LIMITS,
    "deploy.resources.reservations": RESERVATIONS,
    "deploy.restart_policy": RESTART_POLICY,
    "deploy.update_config / rollback_config": UPDATE_CONFIG,
    "deploy.placement": PLACEMENT,
    "services.NAME.build (long form)": BUILD,
    "ports (long form)": PORT,
    "env_file (long form)": ENV_FILE,
}


def known_entries(r: Reader, entries: Entries, table: dict[str, Decision], path: str) -> Entries:
    """The entries whose keys are supported. Others are reported by the table's decision, or
    as unknown keys with a did-you-mean suggestion; ``x-`` keys are ignored."""
    kept: Entries = {}
    for key, (knode, vnode) in entries.items():
        if key.startswith("x-"):
            continue
        decision = table.get(key)
        if decision is None:
            r.error(knode, join(path, key), unknown_key(key, table))
        elif decision.action == "warn":
            r.warn(knode, join(path, key), decision.note)
        elif decision.action == "reject":
            r.error(knode, join(path, key), decision.note)
        else:
            kept[key] = (knode, vnode)
    return kept


def unknown_key(key: str, table: dict[str, Decision]) -> str:
    close = difflib.get_close_matches(key, list(table), n=1, cutoff=0.75)
    if close:
        return f"unknown key; did you mean {close[0]}?"
    supported = [k for k, d in table.items() if d.action == "supported"]
    return "unknown key; expected one of " + ", ".join(supported)



__all__ = ["Decision", "TABLES", "known_entries", "unknown_key"]
