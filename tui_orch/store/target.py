"""Where the state lives: a folder (TinyDB files, the default) or an etcd cluster.

``--state`` (or ``$TUI_ORCH_STATE``) takes either a folder or

    etcd://[USER@]HOST:PORT[,HOST:PORT...][/PREFIX][?ca=FILE&cert=FILE&key=FILE&ttl=SECONDS]

``etcds://`` (or any of ca/cert/key) speaks TLS to the members. The password of USER is
read from ``$TUI_ORCH_ETCD_PASSWORD``, never from the URL (a URL shows in ``ps``, shell
history and logs), and is never printed. PREFIX (default ``/tui-orch``) lets several fleets
share one cluster. ``ttl`` is the controller's lease (default 5 s): a controller that stops
renewing it is replaced that long after.

An etcd state also has a local folder, for what only this machine uses: the socket of a
controller that runs here and its ``controller.json`` (control/place.py). ``os.fspath`` of an
EtcdTarget is that folder, so the code that finds a controller by its folder works unchanged."""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from tui_orch.errors import StoreError

SCHEMES = ("etcd://", "etcds://")
DEFAULT_PREFIX = "/tui-orch"
PASSWORD_ENV = "TUI_ORCH_ETCD_PASSWORD"


@dataclass(frozen=True)
class EtcdTarget:
    endpoints: tuple[str, ...]  # http(s)://host:port
    prefix: str
    user: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    ttl: float = 5.0

    @property
    def url(self) -> str:
        """The URL without secrets (what messages and the header show)."""
        scheme = "etcds" if self.endpoints[0].startswith("https") else "etcd"
        hosts = ",".join(e.split("://", 1)[1] for e in self.endpoints)
        who = f"{self.user}@" if self.user else ""
        return f"{scheme}://{who}{hosts}{self.prefix}"

    @property
    def spec(self) -> str:
        """The URL with its options (no secret is ever part of it): what a command line that
        opens the same state (a systemd unit, a forwarded command) is given."""
        options = [f"{k}={v}" for k, v in (("ca", self.ca), ("cert", self.cert), ("key", self.key)) if v]
        if self.ttl != 5.0:
            options.append(f"ttl={self.ttl:g}")
        return self.url + ("?" + "&".join(options) if options else "")

    @property
    def local(self) -> Path:
        """This machine's folder for this state (controller socket and info)."""
        from tui_orch.store import default_local_root

        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        return default_local_root() / "etcd" / digest

    def __fspath__(self) -> str:
        return str(self.local)

    def __str__(self) -> str:
        return self.url

    def client(self):  # type: ignore[no-untyped-def]
        from tui_orch.store.etcdv3 import EtcdClient, Tls

        tls = Tls(self.ca, self.cert, self.key) if (self.ca or self.cert or self.key) else None
        password = os.environ.get(PASSWORD_ENV) if self.user else None
        if self.user and password is None:
            raise StoreError(f"{self.url}: set ${PASSWORD_ENV} to the password of etcd user {self.user}")
        return EtcdClient(list(self.endpoints), tls=tls, user=self.user, password=password)


def is_etcd(text: str) -> bool:
    return text.startswith(SCHEMES)


def _shown(text: str) -> str:
    """``text`` as a message may show it: whatever stands before an ``@`` (it may hold a
    password) and the options are left out."""
    scheme, sep, rest = text.partition("://")
    rest = rest.split("?", 1)[0]
    if "@" in rest:
        rest = "…@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}" if sep else ("…@" + text.rsplit("@", 1)[1] if "@" in text else text)


def parse_etcd(text: str) -> EtcdTarget:
    """An etcd:// URL as a target; StoreError saying what is wrong with it."""
    shown = _shown(text)
    url = urllib.parse.urlsplit(text)
    if "@" in text.split("?", 1)[0] and ":" in text.split("://", 1)[-1].split("@", 1)[0]:
        raise StoreError(f"{shown}: put the etcd password in ${PASSWORD_ENV}, not in the URL "
                         f"(a URL shows in ps, shell history and logs)")
    user, _, hosts = url.netloc.rpartition("@")
    if not hosts:
        raise StoreError(f"{shown}: name at least one etcd member, as etcd://HOST:2379[,HOST:2379...]/PREFIX")
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"ca", "cert", "key", "ttl"})
    if unknown:
        raise StoreError(f"{shown}: unknown option {unknown[0][:20]!r} (known: ca, cert, key, ttl)")
    one = {k: v[-1] for k, v in query.items()}
    tls = url.scheme == "etcds" or any(one.get(k) for k in ("ca", "cert", "key"))
    endpoints = []
    for part in hosts.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep:
            host, port = part.strip(), "2379"
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise StoreError(f"{shown}: {_shown(part)!r} is not HOST:PORT")
        endpoints.append(f"{'https' if tls else 'http'}://{host}:{port}")
    prefix = "/" + url.path.strip("/") if url.path.strip("/") else DEFAULT_PREFIX
    ttl_text = one.get("ttl", "5")
    if not ttl_text.isdigit():
        raise StoreError(f"{shown}: ttl={ttl_text!r} is not a whole number of seconds (etcd grants whole seconds)")
    ttl = float(ttl_text)
    if not 2 <= ttl <= 600:
        raise StoreError(f"{shown}: ttl={ttl:g} must be 2 to 600 seconds")
    for k in ("ca", "cert", "key"):
        if one.get(k) and not os.path.isfile(os.path.expanduser(one[k])):
            raise StoreError(f"{shown}: {k} file {one[k]} does not exist")
    if one.get("key") and not one.get("cert"):
        raise StoreError(f"{shown}: key= needs cert= (the client certificate it belongs to)")
    return EtcdTarget(tuple(endpoints), prefix, user or None,
                      *(os.path.expanduser(one[k]) if one.get(k) else None for k in ("ca", "cert", "key")), ttl=ttl)
