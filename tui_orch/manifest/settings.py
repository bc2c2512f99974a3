"""Readers of the container settings Docker takes as they are (cap_add, sysctls, ulimits...),
in the forms the Compose specification gives them, and their checks against each other.

Each reader returns the value of one ``ContainerSettings`` field (same name, except
``blkio_config`` -> ``blkio``); ``settings_of`` builds the value from the fields read.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from tui_orch.container_settings import (
    BlkioConfig, ContainerSettings, DeviceMapping, LogConfig, Throttle, Ulimit, normalise_platform,
)
from tui_orch.manifest.decisions import BLKIO_CONFIG, DEVICE, LOGGING, ULIMIT, known_entries
from tui_orch.manifest.fields import key_values
from tui_orch.manifest.gpus import gpus
from tui_orch.manifest.reader import Invalid, Reader, Reported, is_null, join, shown
from tui_orch.errors import UnitError
from tui_orch.units import parse_bytes, parse_duration

Read = Callable[[Reader, Node, str], Any]

# Docker's list (pkg/ulimit): the names it accepts
ULIMIT_NAMES = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
                "rss", "rtprio", "rttime", "sigpending", "stack")
_CAP_RE = re.compile(r"^(CAP_)?[A-Z][A-Z0-9_]*$|^ALL$", re.IGNORECASE)
_CGROUP_RULE_RE = re.compile(r"^[acb] (\d+|\*):(\d+|\*) [rwm]{1,3}$")  # Docker's own check
_CPUSET_RE = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # a name /etc/hosts or resolv.conf takes
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$")
_PLATFORM_RE = re.compile(r"^[a-z0-9_]+(/[a-z0-9_-]+(/[a-z0-9_]+)?)?$", re.IGNORECASE)
_SHARED = ("service:", "container:")


def _words(what: str) -> Read:
    """A list of non-empty strings (``what``: how one item is named in messages)."""
    def read(r: Reader, node: Node, path: str) -> tuple[str, ...]:
        out: list[str] = []
        for i, text in enumerate(r.strings(node, path, what)):
            if not text.strip():
                raise Invalid(f"item {i} is empty; expected {what}", node)
            if text.strip() in out:  # the Compose specification wants these lists' items unique
                raise Invalid(f"{shown(text.strip())} is listed twice; list it once", node)
            out.append(text.strip())
        return tuple(out)
    return read


def _checked_words(what: str, pattern: re.Pattern[str], example: str) -> Read:
    def read(r: Reader, node: Node, path: str) -> tuple[str, ...]:
        words = _words(what)(r, node, path)
        for word in words:
            if not pattern.match(word):
                raise Invalid(f"expected {what} such as {example}, got {shown(word)}", node)
        return words
    return read


def _word_or_words(what: str, check: Callable[[str, Node], str] | None = None) -> Read:
    """A string or a list of strings (dns, dns_search)."""
    def read(r: Reader, node: Node, path: str) -> tuple[str, ...]:
        words = (r.text(node, path, what),) if isinstance(node, ScalarNode) else _words(what)(r, node, path)
        return tuple(check(w.strip(), node) if check else w.strip() for w in words if w.strip())
    return read


def _ip(text: str, node: Node) -> str:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise Invalid(f"expected an IP address, got {shown(text)}", node) from None


def _text(what: str, pattern: re.Pattern[str] | None = None, example: str = "") -> Read:
    def read(r: Reader, node: Node, path: str) -> str:
        text = r.text(node, path, what).strip()
        if not text:
            raise Invalid(f"it is empty; expected {what}, or remove the key", node)
        if pattern is not None and not pattern.match(text):
            raise Invalid(f"expected {what}{' such as ' + example if example else ''}, got {shown(text)}", node)
        return text
    return read


def _whole(minimum: int, maximum: int | None = None) -> Read:
    return lambda r, n, p: r.whole(n, p, minimum, maximum)


def _flag(r: Reader, node: Node, path: str) -> bool:
    return r.boolean(node, path)


def _namespace(choices: tuple[str, ...], key: str) -> Read:
    """pid, ipc, uts, userns_mode: one of ``choices``; another container's namespace is refused
    (it may run on another node)."""
    def read(r: Reader, node: Node, path: str) -> str:
        text = r.text(node, path, " or ".join(choices)).strip()
        if text.startswith(_SHARED):
            raise Invalid(f"{key}: {shown(text)} is not supported: it shares another container's namespace, and that "
                          f"container may run on another node; use {' or '.join(choices)}", node)
        if text not in choices:
            raise Invalid(f"expected {' or '.join(choices)}, got {shown(text)}", node)
        return text
    return read


# --------------------------------------------------------------------------- mappings


def _sysctls(r: Reader, node: Node, path: str) -> tuple[tuple[str, str], ...]:
    values = key_values(r, node, path, "sysctl")
    for key, value in values.items():
        if value is None:
            raise Invalid(f"sysctl {shown(key)} has no value; write {key}=VALUE", node)
    return tuple(sorted((k, str(v)) for k, v in values.items()))


def _storage_opt(r: Reader, node: Node, path: str) -> tuple[tuple[str, str], ...]:
    values = key_values(r, node, path, "option")
    return tuple(sorted((k, v or "") for k, v in values.items()))


def _ulimits(r: Reader, node: Node, path: str) -> tuple[Ulimit, ...]:
    out: list[Ulimit] = []
    before = r.error_count
    for name, (knode, vnode) in r.entries(node, path).items():
        kpath = join(path, name)
        if name not in ULIMIT_NAMES:
            r.error(knode, kpath, f"unknown ulimit {shown(name)}; expected one of {', '.join(ULIMIT_NAMES)}")
            continue
        limit = r.read(lambda n, p: _ulimit(r, name, n, p), vnode, kpath)
        if limit is not None:
            out.append(limit)
    if r.error_count > before:
        raise Reported()
    return tuple(out)


def _ulimit(r: Reader, name: str, node: Node, path: str) -> Ulimit:
    if not isinstance(node, MappingNode):
        value = r.whole(node, path, -1)
        return Ulimit(name, value, value)
    entries = known_entries(r, r.entries(node, path), ULIMIT, path)
    missing = [k for k in ("soft", "hard") if k not in entries]
    if missing:
        raise Invalid(f"missing {' and '.join(missing)}: (write a single number, or both soft: and hard:)", node)
    soft = r.whole(entries["soft"][1], join(path, "soft"), -1)
    hard = r.whole(entries["hard"][1], join(path, "hard"), -1)
    if hard != -1 and (soft == -1 or soft > hard):
        raise Invalid(f"soft ({soft}) is above hard ({hard}); the soft limit cannot exceed the hard one", entries["soft"][1])
    return Ulimit(name, soft, hard)


def _extra_hosts(r: Reader, node: Node, path: str) -> tuple[tuple[str, str], ...]:
    """``["host:ip", "host=ip"]`` or ``{host: ip | [ip, ...]}``; IPv6 addresses may be in brackets."""
    out: list[tuple[str, str]] = []
    if isinstance(node, MappingNode):
        for host, (knode, vnode) in r.entries(node, path).items():
            ips = [r.text(vnode, join(path, host), "an IP address")] if isinstance(vnode, ScalarNode) \
                else r.strings(vnode, join(path, host), "an IP address")
            out += [(_host(host, knode), _host_ip(ip, vnode)) for ip in ips]
        return tuple(out)
    if isinstance(node, ScalarNode):
        raise Invalid(f"expected a list of HOST:IP (or HOST=IP), or a mapping, got {shown(node.value)}", node)
    for i, item in enumerate(r.items(node, path)):
        text = r.text(item, join(path, i), "HOST:IP").strip()
        host, sep, ip = text.partition("=") if "=" in text else text.partition(":")
        if not sep or not host or not ip:
            raise Invalid(f"expected HOST:IP or HOST=IP, got {shown(text)}", item)
        out.append((_host(host.strip(), item), _host_ip(ip.strip(), item)))
    return tuple(out)


def _host(text: str, node: Node) -> str:
    if not _NAME_RE.match(text):
        raise Invalid(f"expected a host name such as db.internal, got {shown(text)}", node)
    return text


def _host_ip(text: str, node: Node) -> str:
    return "host-gateway" if text == "host-gateway" else _ip(text, node)


# --------------------------------------------------------------------------- devices


def _devices(r: Reader, node: Node, path: str) -> tuple[DeviceMapping, ...]:
    out = []
    for i, item in enumerate(r.items(node, path)):
        ipath = join(path, i)
        if isinstance(item, MappingNode):
            device = r.read(lambda n, p: _long_device(r, n, p), item, ipath)
        else:
            device = r.read(lambda n, p: _short_device(r.text(n, p, "a device"), n), item, ipath)
        if device is not None:
            out.append(device)
    return tuple(out)


def _short_device(text: str, node: Node) -> DeviceMapping:
    """``/dev/x``, ``/dev/x:/dev/y``, ``/dev/x:/dev/y:rw``, ``/dev/x:rw``."""
    parts = text.strip().split(":")
    if len(parts) == 2 and not parts[1].startswith("/"):
        parts = [parts[0], parts[0], parts[1]]
    if len(parts) > 3:
        raise Invalid(f"expected a device such as /dev/ttyUSB0 or /dev/ttyUSB0:/dev/ttyUSB0:rwm, got {shown(text)}", node)
    source = parts[0]
    target = parts[1] if len(parts) > 1 else source
    return _device(source, target, parts[2] if len(parts) > 2 else "rwm", node)


def _long_device(r: Reader, node: Node, path: str) -> DeviceMapping:
    entries = known_entries(r, r.entries(node, path), DEVICE, path)
    if "source" not in entries:
        raise Invalid("missing source: (the device on the node, such as /dev/ttyUSB0)", node)
    values = {k: r.text(v, join(path, k), "a device path").strip() for k, (_, v) in entries.items()}
    source = values["source"]
    return _device(source, values.get("target", source), values.get("permissions", "rwm"), node)


def _device(source: str, target: str, permissions: str, node: Node) -> DeviceMapping:
    if not source.startswith("/"):
        raise Invalid(f"expected a device path on the node such as /dev/ttyUSB0, got {shown(source)} "
                      f"(CDI device names are not supported)", node)
    if not target.startswith("/"):
        raise Invalid(f"expected the device's path in the container, such as /dev/ttyUSB0, got {shown(target)}", node)
    if not permissions or set(permissions) - set("rwm"):
        raise Invalid(f"expected permissions made of r, w and m (such as rwm), got {shown(permissions)}", node)
    return DeviceMapping(source, target, permissions)


# --------------------------------------------------------------------------- sizes, times


def _size_or_unlimited(r: Reader, node: Node, path: str) -> int:
    """A size, or -1 for unlimited (memswap_limit)."""
    text = r.text(node, path, "a size such as 1g, or -1").strip()
    if text == "-1":
        return -1
    try:
        return parse_bytes(text)
    except UnitError as exc:
        raise Invalid(f"{exc}; or -1 for unlimited", node) from None


def _microseconds(r: Reader, node: Node, path: str) -> int:
    """A whole number of microseconds, or a duration such as 950ms (cpu_rt_*)."""
    text = r.text(node, path, "microseconds or a duration").strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    try:
        return round(parse_duration(text) * 1_000_000)
    except UnitError as exc:
        raise Invalid(f"{exc} (or a whole number of microseconds)", node) from None


# --------------------------------------------------------------------------- logging, blkio


def _logging(r: Reader, node: Node, path: str) -> LogConfig:
    entries = known_entries(r, r.entries(node, path), LOGGING, path)
    driver = ""
    if "driver" in entries and not is_null(entries["driver"][1]):
        driver = _text("a logging driver such as json-file or syslog")(r, entries["driver"][1], join(path, "driver"))
    options: dict[str, str | None] = {}
    if "options" in entries and not is_null(entries["options"][1]):
        options = key_values(r, entries["options"][1], join(path, "options"), "option")
    return LogConfig(driver, tuple(sorted((k, v) for k, v in options.items() if v is not None)))


def _blkio(r: Reader, node: Node, path: str) -> BlkioConfig:
    entries = known_entries(r, r.entries(node, path), BLKIO_CONFIG, path)
    before = r.error_count
    values: dict[str, Any] = {}
    for key, (_, vnode) in entries.items():
        if is_null(vnode):
            continue
        kpath = join(path, key)
        if key == "weight":
            value = r.read(lambda n, p: r.whole(n, p, 10, 1000), vnode, kpath)
        else:
            value = r.read(lambda n, p, key=key: _throttles(r, key, n, p), vnode, kpath)
        if value is not None:
            values[key] = value
    if r.error_count > before:
        raise Reported()
    return BlkioConfig(**values)


def _throttles(r: Reader, key: str, node: Node, path: str) -> tuple[Throttle, ...]:
    field = "weight" if key == "weight_device" else "rate"
    out = []
    for i, item in enumerate(r.items(node, path)):
        ipath = join(path, i)
        entries = r.entries(item, ipath)
        unknown = [k for k in entries if k not in ("path", field)]
        if unknown or "path" not in entries or field not in entries:
            raise Invalid(f"expected {{path: /dev/sda, {field}: ...}}, got keys {', '.join(sorted(entries)) or 'none'}", item)
        device = _text("a device path such as /dev/sda")(r, entries["path"][1], join(ipath, "path"))
        vnode, vpath = entries[field][1], join(ipath, field)
        if field == "weight":
            value = r.whole(vnode, vpath, 10, 1000)
        elif key.endswith("_bps"):
            value = r.size(vnode, vpath)
        else:
            value = r.whole(vnode, vpath, 0)
        out.append(Throttle(device, value))
    return tuple(out)


def _platform(r: Reader, node: Node, path: str) -> str:
    text = _text("a platform such as linux/amd64 or linux/arm64", _PLATFORM_RE, "linux/arm64")(r, node, path)
    return normalise_platform(text)


READERS: dict[str, Read] = {
    "privileged": _flag,
    "cap_add": _checked_words("a capability", _CAP_RE, "NET_ADMIN or CAP_SYS_TIME"),
    "cap_drop": _checked_words("a capability", _CAP_RE, "NET_RAW or ALL"),
    "security_opt": _words("a security option such as no-new-privileges:true"),
    "read_only": _flag,
    "init": _flag,
    "userns_mode": _namespace(("host",), "userns_mode"),
    "group_add": _words("a group name or id"),
    "sysctls": _sysctls,
    "ulimits": _ulimits,
    "pid": _namespace(("host",), "pid"),
    "ipc": _namespace(("host", "private", "shareable", "none"), "ipc"),
    "uts": _namespace(("host",), "uts"),
    "cgroup": lambda r, n, p: r.choice(n, p, ("host", "private")),
    "cgroup_parent": _text("a cgroup path"),
    "runtime": _text("a runtime name such as runc", re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"), "runc"),
    "devices": _devices,
    "device_cgroup_rules": _checked_words("a device cgroup rule", _CGROUP_RULE_RE, "'c 1:3 mr' or 'a *:* rwm'"),
    "gpus": gpus,
    "hostname": _text("a host name", _HOSTNAME_RE, "web-1"),
    "domainname": _text("a domain name", _HOSTNAME_RE, "example.internal"),
    "mac_address": _text("a MAC address", _MAC_RE, "02:42:ac:11:00:02"),
    "extra_hosts": _extra_hosts,
    "dns": _word_or_words("a DNS server address", _ip),
    "dns_search": _word_or_words("a search domain", _host),
    "dns_opt": _words("a resolver option such as ndots:2"),
    "shm_size": lambda r, n, p: r.size(n, p),
    "mem_swappiness": _whole(0, 100),
    "memswap_limit": _size_or_unlimited,
    "oom_score_adj": _whole(-1000, 1000),
    "oom_kill_disable": _flag,
    "pids_limit": _whole(-1),
    "cpu_shares": _whole(0),
    "cpuset": _text("a cpu list", _CPUSET_RE, "0-3 or 0,2"),
    "cpu_count": _whole(0),
    "cpu_percent": _whole(0, 100),
    "cpu_period": _whole(0),
    "cpu_quota": _whole(-1),
    "cpu_rt_period": _microseconds,
    "cpu_rt_runtime": _microseconds,
    "blkio_config": _blkio,
    "storage_opt": _storage_opt,
    "logging": _logging,
    "platform": _platform,
}
_FIELD = {"blkio_config": "blkio"}  # key -> ContainerSettings field, where they differ


def settings_of(fields: dict[str, Any]) -> ContainerSettings:
    """The ContainerSettings of the keys read (``fields``: key -> value of its reader)."""
    return ContainerSettings(**{_FIELD.get(k, k): v for k, v in fields.items() if k in READERS})


__all__ = ["READERS", "ULIMIT_NAMES", "settings_of"]
