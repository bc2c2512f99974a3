"""Service volumes (short and long syntax), tmpfs, volumes_from and the top-level volumes,
as the Compose specification writes them; every error as file:line:column: path: message."""

from __future__ import annotations

import os
from pathlib import Path
from textwrap import dedent

import pytest

from tui_orch.errors import ManifestError
from tui_orch.manifest import load_manifest, parse_manifest
from tui_orch.model import Mount, ServiceSpec, VolumeSpec, from_dict, to_dict


def parse(text: str, filename: str = "/srv/shop/web.yaml"):
    return parse_manifest(dedent(text), filename, environ={})


def errors(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        parse(text)
    return [str(p) for p in info.value.problems]


def mounts(*items: str, top: str = "volumes: {data: {}}\n") -> tuple[Mount, ...]:
    body = "".join(f"      - {item}\n" for item in items)
    return parse(f"services:\n  db:\n    image: busybox\n    volumes:\n{body}{top}").services[0].mounts


# --------------------------------------------------------------------------- short syntax


def test_short_syntax_every_form() -> None:
    home = os.path.expanduser("~")
    assert mounts("data:/var/lib/db", "data:/ro:ro", "/srv/logs:/logs", "./nginx.conf:/etc/nginx.conf:ro",
                  "../shared:/shared", "~/x:/x:rw", "/anon", "data:/n:nocopy", "/srv/p:/p:ro,rshared,z",
                  "data:/z:ro,Z") == (
        Mount("volume", "/var/lib/db", "data"),
        Mount("volume", "/ro", "data", read_only=True),
        Mount("bind", "/logs", "/srv/logs", options=(("create_host_path", "true"),)),
        Mount("bind", "/etc/nginx.conf", "/srv/shop/nginx.conf", True, local=True, options=(("create_host_path", "true"),)),
        Mount("bind", "/shared", "/srv/shared", local=True, options=(("create_host_path", "true"),)),
        Mount("bind", "/x", f"{home}/x", local=True, options=(("create_host_path", "true"),)),
        Mount("volume", "/anon"),
        Mount("volume", "/n", "data", options=(("nocopy", "true"),)),
        Mount("bind", "/p", "/srv/p", True, options=(("create_host_path", "true"), ("propagation", "rshared"), ("selinux", "z"))),
        Mount("volume", "/z", "data", True, options=(("selinux", "Z"),)),  # relabelled, as Compose passes it on
    )


def test_relative_sources_are_resolved_against_the_manifest_folder(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    volumes: ['./conf/nginx.conf:/etc/nginx/nginx.conf:ro']\n")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/nginx.conf").write_text("events {}\n")
    (mount,) = load_manifest(tmp_path / "compose.yaml").services[0].mounts
    assert (mount.source, mount.local, mount.read_only) == (str(tmp_path / "conf/nginx.conf"), True, True)


@pytest.mark.parametrize(("item", "message"), [
    ("data:relative", "the path in the container must be absolute (start with /), got 'relative'"),
    ("data:/", "cannot mount over the container's root (/); mount a folder inside it"),
    ("'a:b:c:d'", "expected 'NAME:/path', '/node/path:/path', './file:/path:ro' or '/path', got 'a:b:c:d'"),
    ("'data::/x'", "expected 'NAME:/path', '/node/path:/path', './file:/path:ro' or '/path', got 'data::/x'"),
    ("data:/x:rx", "unknown mount mode 'rx'; use ro, rw, z, Z, nocopy or a propagation (rprivate, private, rshared, shared, rslave, slave)"),
    ("/a:/x:nocopy", "nocopy does not apply to a bind mount"),
    ("data:/x:rshared", "rshared does not apply to volume data"),
    ("'bad name!:/x'", "a volume name is letters, digits, '_', '.' and '-', starting with a letter or digit, got 'bad name!'"),
])
def test_short_syntax_errors(item: str, message: str) -> None:
    assert errors(f"services:\n  db:\n    image: busybox\n    volumes:\n      - {item}\nvolumes: {{data: {{}}}}\n") == [
        f"/srv/shop/web.yaml:5:9: services.db.volumes[0]: {message}"]


def test_an_undeclared_named_volume_is_an_error_as_in_compose() -> None:
    assert errors("services:\n  db:\n    image: busybox\n    volumes: ['pgdata:/var/lib/pg']\n") == [
        "/srv/shop/web.yaml:2:3: services.db.volumes: volume pgdata is not declared; add it under the top-level volumes: (pgdata: {})"]


def test_a_path_mounted_twice_is_an_error() -> None:
    assert errors("services:\n  db:\n    image: busybox\n    volumes: ['/a:/x', 'data:/x']\nvolumes: {data: }\n") == [
        "/srv/shop/web.yaml:4:24: services.db.volumes[1]: /x is mounted twice (also item 0); mount each path once"]


# --------------------------------------------------------------------------- long syntax


def test_long_syntax_every_key() -> None:
    found = mounts(
        "{type: volume, source: data, target: /db, read_only: true, volume: {nocopy: true, subpath: pg/16}}",
        "{type: volume, target: /cache}",
        "{type: bind, source: /var/run/docker.sock, target: /var/run/docker.sock}",
        "{type: bind, source: ./site, target: /www, bind: {create_host_path: true, propagation: rslave, selinux: Z}}",
        "{type: tmpfs, target: /scratch, tmpfs: {size: 64m, mode: 1777}}",
        "{type: bind, source: /srv/in, target: /in, consistency: cached}",
    )
    assert found == (
        Mount("volume", "/db", "data", True, options=(("nocopy", "true"), ("subpath", "pg/16"))),
        Mount("volume", "/cache"),
        Mount("bind", "/var/run/docker.sock", "/var/run/docker.sock"),
        Mount("bind", "/www", "/srv/shop/site", local=True,
              options=(("create_host_path", "true"), ("propagation", "rslave"), ("selinux", "Z"))),
        Mount("tmpfs", "/scratch", options=(("mode", "1777"), ("size", str(64 * 1024 * 1024)))),
        Mount("bind", "/in", "/srv/in"),
    )
    assert found[5].option("create_host_path", "false") == "false"  # long syntax: no folder is made


def test_long_syntax_warns_about_consistency() -> None:
    text = "services:\n  db:\n    image: busybox\n    volumes: [{type: bind, source: /a, target: /a, consistency: cached}]\n"
    assert [str(p) for p in parse(text).warnings] == [
        "/srv/shop/web.yaml:4:52: warning: services.db.volumes[0].consistency: ignored: it only ever applied to Docker Desktop for Mac"]


def test_short_syntax_consistency_modes_are_read_and_warned_about() -> None:
    """awesome-compose's react-express-mysql (2020) mounts ./backend:/opt/app:delegated, valid
    Compose: the consistency modes cached, delegated and consistent are ignored with a warning."""
    text = "services:\n  db:\n    image: busybox\n    volumes: ['/a:/a:delegated', 'data:/d:ro,cached']\nvolumes: {data: {}}\n"
    m = parse(text)
    assert [(x.source, x.read_only) for x in m.services[0].mounts] == [("/a", False), ("data", True)]
    assert [str(p) for p in m.warnings] == [
        f"/srv/shop/web.yaml:4:{col}: warning: services.db.volumes[{i}]: mode {mode} ignored: it only ever applied to Docker Desktop for Mac"
        for i, col, mode in ((0, 15, "delegated"), (1, 34, "cached"))]


@pytest.mark.parametrize(("item", "column", "path", "message"), [
    ("{source: data, target: /x}", 9, "", "missing type: (volume, bind or tmpfs)"),
    ("{type: volume, source: data}", 9, "", "missing target: (the path in the container)"),
    ("{type: npipe, target: /x}", 16, ".type", "expected one of volume, bind, tmpfs, got 'npipe'"),
    ("{type: bind, target: /x}", 9, "", "a bind mount needs source: (a path on the node, or ./file next to the manifest)"),
    ("{type: bind, source: data, target: /x}", 30, "",
     "a bind source is a path (/on/the/node, ./next/to/the/manifest, ~/home), got 'data'; for a named volume use type: volume"),
    ("{type: volume, source: /srv, target: /x}", 32, "",
     "a volume source is the name of a top-level volume, got the path '/srv'; for a path use type: bind"),
    ("{type: tmpfs, source: x, target: /x}", 31, "", "a tmpfs mount has no source; remove source:"),
    ("{type: tmpfs, target: /x, bind: {propagation: shared}}", 35, ".bind", "bind: options do not apply to a mount of type tmpfs"),
    ("{type: bind, source: /a, target: /x, bind: {propagation: up}}", 66, ".bind.propagation",
     "expected one of rprivate, private, rshared, shared, rslave, slave, got 'up'"),
    ("{type: tmpfs, target: /x, tmpfs: {mode: 999}}", 49, ".tmpfs.mode", "expected an octal mode such as 1777 or 0755, got '999'"),
    ("{type: volume, source: data, target: /x, volume: {subpath: ../etc}}", 68, ".volume.subpath",
     "a subpath is relative and stays inside the volume, got '../etc'"),
    ("{type: volume, source: data, target: /x, volume: {labels: {a: b}}}", 59, ".volume.labels",
     "unknown key; expected one of nocopy, subpath"),
    ("{type: image, target: /x}", 16, ".type", "expected one of volume, bind, tmpfs, got 'image'"),
])
def test_long_syntax_errors(item: str, column: int, path: str, message: str) -> None:
    text = f"services:\n  db:\n    image: busybox\n    volumes:\n      - {item}\nvolumes: {{data: {{}}}}\n"
    assert errors(text) == [f"/srv/shop/web.yaml:5:{column}: services.db.volumes[0]{path}: {message}"]


# --------------------------------------------------------------------------- tmpfs, volumes_from


def test_tmpfs_key_string_and_list() -> None:
    assert parse("services:\n  a:\n    image: x\n    tmpfs: /run\n").services[0].tmpfs == (("/run", ""),)
    spec = parse("services:\n  a:\n    image: x\n    tmpfs: ['/tmp:size=64m,mode=1777', /run]\n").services[0]
    assert spec.tmpfs == (("/run", ""), ("/tmp", "size=64m,mode=1777"))
    assert errors("services:\n  a:\n    image: x\n    tmpfs: [run]\n") == [
        "/srv/shop/web.yaml:4:13: services.a.tmpfs[0]: the path in the container must be absolute (start with /), got 'run'"]


def test_volumes_from_services_of_the_file() -> None:
    text = "services:\n  db:\n    image: x\n  backup:\n    image: x\n    volumes_from: [db, 'db:ro']\n"
    assert parse(text).services[1].volumes_from == ("db", "db:ro")
    assert errors("services:\n  a:\n    image: x\n    volumes_from: ['container:pg']\n") == [
        "/srv/shop/web.yaml:4:20: services.a.volumes_from[0]: container:NAME is not supported: a container runs on one node only; "
        "name a service of this file, or share a named volume"]
    assert errors("services:\n  a:\n    image: x\n    volumes_from: [nope, 'a']\n") == [
        "/srv/shop/web.yaml:2:3: services.a.volumes_from: nope is not another service of this file; name one whose volumes to mount",
        "/srv/shop/web.yaml:2:3: services.a.volumes_from: a is not another service of this file; name one whose volumes to mount",
    ]


# --------------------------------------------------------------------------- top-level volumes


def test_top_level_volumes_are_named_as_compose_names_them() -> None:
    manifest = parse("""\
        name: shop
        services:
          db:
            image: busybox
            volumes: [data:/data, logs:/logs, old:/old, ext:/ext]
        volumes:
          data:
          logs: {driver: local, driver_opts: {type: tmpfs, device: tmpfs, o: size=100m}, labels: [tier=db]}
          ext: {external: true}
          old: {external: {name: legacy_data}}
          fixed: {name: "exact-name"}
        """)
    assert manifest.volumes == (
        VolumeSpec("data", "shop_data"),
        VolumeSpec("logs", "shop_logs", "local", (("device", "tmpfs"), ("o", "size=100m"), ("type", "tmpfs")), (("tier", "db"),)),
        VolumeSpec("ext", "ext", external=True),
        VolumeSpec("old", "legacy_data", external=True),
        VolumeSpec("fixed", "exact-name"),
    )
    spec = manifest.services[0]
    assert [v.key for v in spec.volumes] == ["data", "ext", "logs", "old"]  # the ones it uses, by key
    assert spec.volume("data") == VolumeSpec("data", "shop_data")
    assert [str(p) for p in manifest.warnings] == [
        "/srv/shop/web.yaml:10:19: warning: volumes.old.external: external: {name: ...} is deprecated; write "
        "external: true and name: at the volume's level"]


def test_the_project_defaults_to_the_folder_name() -> None:
    (spec,) = parse("services:\n  db:\n    image: x\n    volumes: [data:/d]\nvolumes: {data: }\n", "/srv/My Shop/c.yaml").services
    assert spec.volumes == (VolumeSpec("data", "myshop_data"),)


def test_top_level_volume_errors() -> None:
    assert errors("""\
        services: {db: {image: x}}
        volumes:
          ext: {external: true, driver: local}
          bad!: {}
          v: {driver: ""}
          w: {driver_ops: {}}
        """) == [
        "/srv/shop/web.yaml:3:25: volumes.ext.driver: an external volume is made by you, not by tui-orch: remove driver (or external)",
        "/srv/shop/web.yaml:4:3: volumes.bad!: a volume name is letters, digits, '_', '.' and '-', starting with a letter or digit, got 'bad!'",
        "/srv/shop/web.yaml:5:15: volumes.v.driver: the driver is empty; remove it or set one",
        "/srv/shop/web.yaml:6:7: volumes.w.driver_ops: unknown key; did you mean driver_opts?",
    ]


# --------------------------------------------------------------------------- the model


def test_a_spec_stored_before_volumes_reads_back_equal() -> None:
    spec = ServiceSpec(name="web", image="nginx")
    old = {k: v for k, v in to_dict(spec).items() if k not in ("mounts", "volumes", "tmpfs", "volumes_from")}
    assert from_dict(ServiceSpec, old) == spec


def test_mounts_round_trip_through_the_store_form() -> None:
    spec = parse("services:\n  db:\n    image: x\n    volumes: [data:/d:ro, ./f:/f, {type: tmpfs, target: /t, tmpfs: {size: 1m}}]\n"
                 "    tmpfs: /run\nvolumes: {data: {labels: {a: b}}}\n").services[0]
    assert from_dict(ServiceSpec, to_dict(spec)) == spec
