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


_UNDER_DEPLOY = "not a service key: it belongs under deploy: (deploy.{key})"

TOP: dict[str, Decision] = {
    "services": _s("required; a mapping of service name -> service"),
    "name": _s("the project name: lowercase letters, digits, '-' and '_'"),
    "version": _w("obsolete and ignored (as in Compose v2); remove it"),
    "networks": _s("KEY: {name, external, driver, labels}; a bridge network of that name on each node that runs a service on it; services on it reach each other by name, on every node"),
    "secrets": _s("name -> {file} or {environment}; the value is read here, only its digest is stored"),
    "configs": _s("name -> {file}, {content} or {environment}"),
    "volumes": _s("named volumes: KEY: {driver, driver_opts, labels, name, external}; created on each node that runs a replica mounting them"),
    "include": _s("a list of paths, or {path, env_file, project_directory}: those files' services join this one's"),
}

SERVICE: dict[str, Decision] = {
    "image": _s("required unless build: is set; an image reference such as nginx:1.27 or registry.example.org/app@sha256:..."),
    "command": _s("a string (split into words like a shell) or a list"),
    "entrypoint": _s("a string (split into words like a shell) or a list; [] clears the image's"),
    "environment": _s("a list of KEY=VALUE / KEY, or a mapping; KEY alone takes the value from the environment"),
    "env_file": _s("a path or a list of paths / {path, required}, relative to the manifest's folder"),
    "ports": _s("short form \"[IP:][HOST:]CONTAINER[/PROTOCOL]\", or {target, published, protocol, host_ip, mode}; "
                "a published port answers on every node (mode ingress)"),
    "network_mode": _s("host, bridge or none: the service is then on no project network and reached by no name"),
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
    "depends_on": _s("a list of services, or service -> {condition, required, restart}; a service starts once each dependency reached its condition"),
    "container_name": _w("ignored: tui-orch names each container after its service, replica and revision, because "
                         "a replica's old and new containers may exist side by side on one node (a start-first update, "
                         "a copy left on a node that was cut off) and Docker gives a name only once"),
    "links": _s("SERVICE or SERVICE:ALIAS (legacy): a start dependency, and the alias a name of that service on a network the two share"),
    "external_links": _w("ignored: reach other services by name on a shared network, or on their published ports"),
    "networks": _s("a list of network keys, or KEY: {aliases}; none: the project's default network"),
    "expose": _s("ports other services reach it on by name (5432, 8000-8010), besides its image's EXPOSE and its ports' targets"),
    "profiles": _s("a list of profile names: the service is deployed only with --profile NAME (or COMPOSE_PROFILES)"),
    "pull_policy": _w("ignored: tui-orch brings a missing image to a node itself (pull, or copy over SSH)"),
    "stdin_open": _w("ignored: replicas run detached, without input"),
    "tty": _w("ignored: replicas run without a terminal"),
    "annotations": _w("ignored: annotations are not set on containers"),
    "attach": _w("ignored: logs are read from each replica on demand"),
    "develop": _w("ignored: compose watch is a development feature"),
    "label_file": _r("not supported: put the labels under labels:"),
    "extends": _s("a service name, or {service, file}: that service merged under this one, as Compose merges"),
    "secrets": _s("names, or {source, target, uid, gid, mode}; mounted read-only at /run/secrets/NAME, mode 0444, from a tmpfs of the node"),
    "configs": _s("names, or {source, target, uid, gid, mode}; mounted read-only at /NAME, mode 0444"),
    "volumes": _s("short 'NAME:/path[:ro]', '/node/path:/path', './file:/path:ro', './folder:/path', '~/x:/path', '/path'; long {type volume|bind|tmpfs, source, target, read_only, bind, volume, tmpfs}"),
    "volumes_from": _s("SERVICE[:ro|rw]: its replicas run on nodes where SERVICE runs one; container:NAME is refused"),
    "tmpfs": _s("a path or a list of /path[:options] (size=64m,mode=1777...)"),
    "cpus": _s("cores, read as deploy.resources.limits.cpus (a different value there is an error)"),
    "mem_limit": _s("a size, read as deploy.resources.limits.memory (a different value there is an error)"),
    "mem_reservation": _s("a size, read as deploy.resources.reservations.memory (a different value there is an error)"),
    # --- container settings (issue 12): passed to the engine as they are
    "privileged": _s("true or false; the plan notes that such a container controls the node it runs on"),
    "cap_add": _s("a list of capabilities (NET_ADMIN or CAP_NET_ADMIN, ALL)"),
    "cap_drop": _s("a list of capabilities (NET_RAW, ALL)"),
    "security_opt": _s("a list of options such as no-new-privileges:true or seccomp=unconfined"),
    "read_only": _s("true: the container's root filesystem is read-only"),
    "init": _s("true: an init process runs as PID 1 (forwards signals, reaps zombies)"),
    "userns_mode": _s("host"),
    "group_add": _s("a list of group names or ids"),
    "sysctls": _s("a list of NAME=VALUE or a mapping"),
    "ulimits": _s("NAME: N (soft and hard) or NAME: {soft, hard}; -1 = unlimited"),
    "pid": _s("host (service:NAME and container:NAME are refused: that container may run on another node)"),
    "ipc": _s("host, private, shareable or none (service:NAME and container:NAME are refused: that container may run on another node)"),
    "uts": _s("host"),
    "cgroup": _s("host or private (the cgroup namespace)"),
    "cgroup_parent": _s("a cgroup path, on each node"),
    "runtime": _s("a runtime name such as runc or nvidia; every node the service may run on needs it"),
    "devices": _s("\"/dev/HOST[:/dev/CONTAINER[:rwm]]\" or {source, target, permissions}; the device must exist on the node"),
    "device_cgroup_rules": _s("a list of rules such as 'c 1:3 mr'"),
    "gpus": _s("all, or a list of {driver, count, device_ids, capabilities, options}; not reserved when placing: pin the service with a node.labels constraint"),
    "hostname": _s("a host name; every replica gets the same one"),
    "domainname": _s("a domain name"),
    "mac_address": _s("a MAC address; every replica gets the same one, so keep one replica per network"),
    "extra_hosts": _s("a list of HOST:IP / HOST=IP, or a mapping HOST: IP (or a list of IPs); host-gateway allowed"),
    "dns": _s("an IP address or a list of them"),
    "dns_search": _s("a domain or a list of them"),
    "dns_opt": _s("a list of resolver options such as ndots:2"),
    "shm_size": _s("a size such as 256m"),
    "mem_swappiness": _s("0 to 100"),
    "memswap_limit": _s("a size (memory plus swap; needs a memory limit) or -1 for unlimited swap"),
    "oom_score_adj": _s("-1000 to 1000"),
    "oom_kill_disable": _s("true or false"),
    "pids_limit": _s("a whole number; -1 = unlimited"),
    "cpu_shares": _s("a relative weight (1024 = normal)"),
    "cpuset": _s("the cores it may use, such as 0-3 or 0,2"),
    "cpu_count": _s("a whole number (Windows engines only; Linux engines ignore it)"),
    "cpu_percent": _s("0 to 100 (Windows engines only; Linux engines ignore it)"),
    "cpu_period": _s("microseconds of the CFS period"),
    "cpu_quota": _s("microseconds of the CFS quota; -1 = none"),
    "cpu_rt_period": _s("microseconds or a duration such as 1s"),
    "cpu_rt_runtime": _s("microseconds or a duration such as 950ms"),
    "blkio_config": _s("weight, weight_device, device_read_bps, device_write_bps, device_read_iops, device_write_iops"),
    "storage_opt": _s("a mapping of storage driver options, such as size: 1G"),
    "logging": _s("driver and options (the driver must be available on every node)"),
    "platform": _s("os/arch such as linux/arm64: replicas are placed only on nodes of that platform"),
    "isolation": _r("not supported: it chooses a Windows container isolation, and tui-orch nodes run Linux containers; remove it"),
    "credential_spec": _r("not supported: it configures a Windows managed service account, and tui-orch nodes run Linux containers; remove it"),
    "use_api_socket": _r("not supported: it hands the container your local Docker CLI's credentials, which tui-orch does not copy to nodes; remove it (and log in to your registry on each node)"),
    "post_start": _r("not supported: lifecycle hooks are commands Compose itself runs in the container, and tui-orch runs none; do the work in the entrypoint"),
    "pre_stop": _r("not supported: lifecycle hooks are commands Compose itself runs in the container, and tui-orch runs none; handle the stop signal in the process instead"),
    "provider": _r("not supported: a provider service is run by a Compose plugin, not as a container; run it with Compose"),
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
    "endpoint_mode": _w("ignored: a service's name resolves to the mesh proxy of the caller's node (like a virtual IP); there is no DNS round robin"),
}

LIMITS: dict[str, Decision] = {
    "cpus": _s("cores, such as 0.5 or 2"),
    "memory": _s("a size such as 512m or 2g"),
    "pids": _s("a whole number, read as the service's pids_limit (a different value there is an error)"),
}

RESERVATIONS: dict[str, Decision] = {
    "cpus": _s("cores set aside for each replica when placing it"),
    "memory": _s("memory set aside for each replica when placing it"),
    "devices": _w("ignored: devices (GPUs) are not reserved; pin the service with a node.labels constraint"),
    "generic_resources": _w("ignored: generic resources are not reserved; pin the service with a node.labels constraint"),
}

RESOURCES: dict[str, Decision] = {
    "limits": _s("cpus, memory, pids"),
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
    "published": _s("the port every node answers on (mode ingress) or the replica binds on its node (mode host); "
                    "absent: a dynamic port per replica"),
    "protocol": _s("tcp (default) or udp"),
    "host_ip": _s("the host address to publish on (mode ingress: where each node's edge proxy listens)"),
    "mode": _s("ingress (default when published: the edge proxy of every node; udp ports and network_mode host "
               "services: host, with a warning) or host (the replica binds the published port)"),
    "name": _w("ignored: port names are not used"),
    "app_protocol": _w("ignored: the application protocol is not used"),
}

# --- container settings (issue 12)
ULIMIT: dict[str, Decision] = {
    "soft": _s("a whole number; -1 = unlimited; at most hard"),
    "hard": _s("a whole number; -1 = unlimited"),
}

DEVICE: dict[str, Decision] = {
    "source": _s("the device on the node (required)"),
    "target": _s("its path in the container; default: the same as source"),
    "permissions": _s("r, w and m; default rwm"),
}

GPU: dict[str, Decision] = {
    "driver": _s("the driver, such as nvidia"),
    "count": _s("a whole number, or all (the default)"),
    "device_ids": _s("a list of device ids (instead of count)"),
    "capabilities": _s("a list; default [gpu]"),
    "options": _s("a mapping of driver options"),
}

LOGGING: dict[str, Decision] = {
    "driver": _s("a logging driver such as json-file, local, syslog or journald; default: the node's"),
    "options": _s("a mapping of the driver's options, such as max-size: 10m"),
}

BLKIO_CONFIG: dict[str, Decision] = {
    "weight": _s("10 to 1000"),
    "weight_device": _s("a list of {path, weight}"),
    "device_read_bps": _s("a list of {path, rate} (a size a second)"),
    "device_write_bps": _s("a list of {path, rate} (a size a second)"),
    "device_read_iops": _s("a list of {path, rate} (operations a second)"),
    "device_write_iops": _s("a list of {path, rate} (operations a second)"),
}

DEPENDS_ON: dict[str, Decision] = {
    "condition": _s("service_started (default), service_healthy or service_completed_successfully"),
    "required": _s("false: a dependency that is not defined or not deployed is skipped with a warning; default true"),
    "restart": _w("read, not acted on: dependants are not restarted with their dependency"),
}

VOLUME_LONG: dict[str, Decision] = {
    "type": _s("volume, bind or tmpfs (required)"),
    "source": _s("volume: a key of the top-level volumes (absent: anonymous); bind: /path on the node, ./path or ~/path on your machine"),
    "target": _s("the absolute path in the container (required)"),
    "read_only": _s("true mounts it read-only"),
    "bind": _s("propagation, create_host_path, selinux"),
    "volume": _s("nocopy, subpath"),
    "tmpfs": _s("size, mode"),
    "consistency": _w("ignored: it only ever applied to Docker Desktop for Mac"),
}

VOLUME_BIND: dict[str, Decision] = {
    "propagation": _s("rprivate, private, rshared, shared, rslave, slave"),
    "create_host_path": _s("true creates a missing folder on the node (the short syntax always does); default false: a missing path is an error"),
    "selinux": _s("z (shared) or Z (private)"),
}

VOLUME_VOLUME: dict[str, Decision] = {
    "nocopy": _s("true: the image's files at the path are not copied into a new volume"),
    "subpath": _s("a folder inside the volume to mount (Docker Engine 26 or later)"),
}

VOLUME_TMPFS: dict[str, Decision] = {
    "size": _s("a size such as 64m"),
    "mode": _s("octal permission bits such as 1777"),
}

TOP_VOLUME: dict[str, Decision] = {
    "driver": _s("the volume driver (default: the engine's, local)"),
    "driver_opts": _s("a mapping of driver options"),
    "labels": _s("a list of KEY=VALUE or a mapping; tui-orch adds its own"),
    "name": _s("the name on the nodes, used as it is (default: PROJECT_KEY)"),
    "external": _s("true: made by you and must exist on the node already; never created or removed"),
}

TOP_NETWORK: dict[str, Decision] = {
    "driver": _s("bridge; overlay is read as bridge with a warning (tui-orch's mesh proxies join the nodes)"),
    "name": _s("the name on the nodes, used as it is (default: PROJECT_KEY)"),
    "external": _s("true: made by you and must exist on each node already; never created or removed"),
    "internal": _w("read as a plain bridge: its replicas must be reachable from the mesh proxies of other nodes, so it cannot be cut off from the node network (services not on it still cannot find its services by name)"),
    "labels": _s("a list of KEY=VALUE or a mapping; tui-orch adds its own"),
    "attachable": _w("ignored: every network tui-orch makes is attachable"),
    "driver_opts": _w("ignored: the network is a plain bridge on each node"),
    "ipam": _w("ignored: each node's engine gives the network its subnet"),
    "enable_ipv6": _w("ignored: the network is IPv4 on each node"),
}

SERVICE_NETWORK: dict[str, Decision] = {
    "aliases": _s("more names the service answers to on this network"),
    "ipv4_address": _w("ignored: replicas on several nodes cannot share one address; reach the service by name"),
    "ipv6_address": _w("ignored: replicas on several nodes cannot share one address; reach the service by name"),
    "link_local_ips": _w("ignored"),
    "priority": _w("ignored: networks are attached in the order listed"),
    "mac_address": _w("ignored: set mac_address on the service"),
    "driver_opts": _w("ignored"),
    "gw_priority": _w("ignored"),
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

_EXTERNAL = ("not supported: an external {kind} lives in a Swarm's store, which tui-orch has no access to; "
             "give it a file: or an environment: instead")
_DRIVER = "not supported: the {kind} is read from file:{content} or environment: on this machine; remove {key}"


def _file_source(kind: str, content: str) -> dict[str, Decision]:
    extra = " or content:" if content else ""
    table = {
        "file": _s("a path on this machine, relative to the manifest's folder (at most 1 MiB)"),
        "environment": _s(f"the name of a variable of tui-orch's environment (or .env) that holds the {kind}"),
        "external": _r(_EXTERNAL.format(kind=kind)),
        "name": _w(f"ignored: the {kind} is named by its key"),
        "labels": _w(f"ignored: a {kind} has no labels here"),
        **{key: _r(_DRIVER.format(kind=kind, content=extra, key=key))
           for key in ("driver", "driver_opts", "template_driver")},
    }
    if content:
        table["content"] = _s("the text itself (variables interpolated)")
    return table


TOP_SECRET = _file_source("secret", "")
TOP_CONFIG = _file_source("config", "content")

FILE_MOUNT: dict[str, Decision] = {
    "source": _s("the name of a top-level secret / config (required)"),
    "target": _s("the path in the container; a secret's relative path is under /run/secrets/"),
    "uid": _s("the owner's numeric id; default 0 (set when the SSH user may chown, i.e. root)"),
    "gid": _s("the group's numeric id; default 0"),
    "mode": _s("octal permissions such as 0440; default 0444"),
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
    "ulimits.NAME (long form)": ULIMIT,
    "devices (long form)": DEVICE,
    "gpus (long form)": GPU,
    "logging": LOGGING,
    "blkio_config": BLKIO_CONFIG,
    "depends_on (long form)": DEPENDS_ON,
    "secrets.NAME": TOP_SECRET,
    "configs.NAME": TOP_CONFIG,
    "services.NAME.secrets / configs (long form)": FILE_MOUNT,
    "volumes (long form)": VOLUME_LONG,
    "volumes.bind": VOLUME_BIND,
    "volumes.volume": VOLUME_VOLUME,
    "volumes.tmpfs": VOLUME_TMPFS,
    "top-level volumes.KEY": TOP_VOLUME,
    "top-level networks.KEY": TOP_NETWORK,
    "services.NAME.networks.KEY": SERVICE_NETWORK,
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
