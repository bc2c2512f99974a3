"""The rest of the Compose file (issue 12): profiles, depends_on, and validation output
(warnings with errors, JSON errors, a host port used twice, NUL bytes)."""

from __future__ import annotations

import json
from textwrap import dedent

import pytest

from tui_orch.cli import main
from tui_orch.errors import ManifestError
from tui_orch.manifest import Manifest, parse_manifest
from tui_orch.model import Dependency

STACK = """
services:
  web:
    image: nginx:1.27
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  migrate:
    image: busybox
    restart: "no"
    depends_on: [db]
  db:
    image: postgres:16
  debug:
    image: busybox
    profiles: [debug, tools]
"""


def parse(text: str, **kw: object) -> Manifest:
    return parse_manifest(dedent(text), "app.yaml", environ=kw.pop("environ", {}), **kw)  # type: ignore[arg-type]


def errors(text: str, **kw: object) -> list[str]:
    with pytest.raises(ManifestError) as info:
        parse(text, **kw)
    return [str(p) for p in info.value.problems]


def test_a_service_with_profiles_is_left_out_unless_one_is_active() -> None:
    m = parse(STACK)
    assert m.names == ("web", "migrate", "db") and m.left_out == (("debug", ("debug", "tools")),)
    assert parse(STACK, profiles=["tools"]).names == ("web", "migrate", "db", "debug")
    assert parse(STACK, profiles=["*"]).left_out == ()
    assert parse(STACK, environ={"COMPOSE_PROFILES": "x, debug"}).left_out == ()


def test_depends_on_short_and_long_forms() -> None:
    m = parse(STACK)
    assert m.service("web").depends_on == (Dependency("db", "service_healthy"),
                                           Dependency("migrate", "service_completed_successfully"))
    assert m.service("migrate").depends_on == (Dependency("db"),)
    assert m.service("migrate").one_shot


def test_depends_on_cycles_and_undefined_services_are_errors() -> None:
    found = errors("""
        services:
          a: {image: busybox, depends_on: [b]}
          b: {image: busybox, depends_on: {c: {condition: service_started}}}
          c: {image: busybox, depends_on: [a, nope]}
    """)
    assert any("dependency cycle: a -> b -> c -> a" in e for e in found), found
    assert any("services.c.depends_on: depends on undefined service 'nope'" in e for e in found), found
    assert any("expected one of service_started" in e for e in errors("""
        services:
          a: {image: busybox, depends_on: {b: {condition: healthy}}}
          b: {image: busybox}
    """))


def test_a_dependency_the_profiles_leave_out_is_an_error_unless_not_required() -> None:
    text = """
        services:
          web: {image: nginx, depends_on: {db: {required: %s}}}
          db: {image: postgres, profiles: [data]}
    """
    found = errors(text % "true")
    assert any("depends on db, which the active profiles leave out (its profiles: data); "
               "activate it with --profile data" in e for e in found), found
    m = parse(text % "false")
    assert m.names == ("web",) and m.service("web").depends_on == ()
    assert any("ignored (required: false)" in str(w) for w in m.warnings)
    assert parse(text % "true", profiles=["data"]).service("web").depends_on == (Dependency("db"),)


def test_the_same_host_port_twice_in_one_service_is_an_error() -> None:
    found = errors("""
        services:
          web: {image: nginx, ports: ["8080:80", "127.0.0.1:8080:81", "8080:80/udp", "9090:80"]}
    """)
    assert found == ["app.yaml:3:42: services.web.ports[1]: host port 8080/tcp is already published by "
                     "services.web.ports[0]; a port can be bound once: use another host port"]


def test_nul_bytes_in_values_are_errors() -> None:
    found = errors('services:\n  web:\n    image: nginx\n    environment: {A: "x\\0y"}\n    command: "a\\0"\n')
    assert [e.split(": ", 2)[1] for e in found] == ["services.web.environment.A", "services.web.command"]
    assert all("NUL character" in e for e in found)


def test_warnings_are_kept_with_errors() -> None:
    with pytest.raises(ManifestError) as info:
        parse("version: '3'\nservices:\n  web: {image: nginx, imgae: x}\n")
    assert [str(w) for w in info.value.warnings] == [
        "app.yaml:1:1: warning: version: obsolete and ignored (as in Compose v2); remove it"]


@pytest.fixture()
def bad(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.yaml"
    path.write_text("version: '3'\nservices:\n  web: {image: nginx, ports: ['80:80', '80:80']}\n")
    return path


def test_validate_prints_warnings_with_errors(bad, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "warning: version: obsolete" in err and "ports[1]: host port 80/tcp is already published" in err
    assert err.rstrip().endswith(f"{bad}: 1 error")


def test_validate_json_reports_errors_as_json(bad, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["validate", "-o", "json", str(bad)]) == 1
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert out.err == ""
    assert doc[0]["valid"] is False and doc[0]["error_count"] == 1
    assert doc[0]["errors"][0]["path"] == "services.web.ports[1]" and doc[0]["errors"][0]["line"] == 3
    assert doc[0]["warnings"][0]["path"] == "version"


def test_validate_prints_at_most_100_errors(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "many.yaml"
    path.write_text("services:\n" + "".join(f"  s{i}: {{image: nginx, replicas: 1}}\n" for i in range(150)))
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert sum("replicas: not a service key" in line for line in err) == 100
    assert any("only the first 100 errors are shown" in line and "50 more services not checked" in line
               for line in err), err[-3:]


def test_validate_says_which_services_profiles_leave_out(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "app.yaml"
    path.write_text(dedent(STACK))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "valid, 3 services" in out
    assert "left out: debug (profiles: debug, tools; none active); activate with --profile debug" in out
    assert main(["validate", "--profile", "tools", str(path)]) == 0
    assert "valid, 4 services" in capsys.readouterr().out


def test_extends_merges_as_compose_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tui_orch.manifest import load_manifest

    (tmp_path / "common.yaml").write_text(dedent("""
        services:
          base:
            image: nginx:1.27
            environment: [A=1, B=2]
            ports: [{target: 80, published: 8080, mode: host}]  # api repeats them: mode host may
            command: ["serve", "--old"]
            deploy: {replicas: 3, resources: {limits: {memory: 64m}}}
    """))
    (tmp_path / "app.yaml").write_text(dedent("""
        services:
          web:
            extends: {file: common.yaml, service: base}
            environment: {B: "3", C: "4"}
            ports: [{target: 90, published: 9090, mode: host}]
            command: ["serve"]
            deploy: {resources: {limits: {cpus: "0.5"}}}
          api:
            extends: web
            image: nginx:1.28
    """))
    m = load_manifest(tmp_path / "app.yaml", environ={})
    web, api = m.service("web"), m.service("api")
    assert dict(web.environment) == {"A": "1", "B": "3", "C": "4"}
    assert [(p.published, p.target) for p in web.ports] == [(8080, 80), (9090, 90)]
    assert web.command == ("serve",) and web.replicas == 3
    assert (web.resources.limits.cpus, web.resources.limits.memory) == (0.5, 64 * 1024 * 1024)
    assert api.image == "nginx:1.28" and api.environment == web.environment and api.ports == web.ports


def test_a_problem_in_the_extended_file_names_that_file_and_its_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tui_orch.manifest import load_manifest

    # zabbix-docker: compose.yaml extends compose_zabbix_components.yaml, whose volume modes
    # were reported at compose.yaml:528 (a file of 181 lines)
    (tmp_path / "components.yaml").write_text("services:\n  base:\n    image: busybox\n    volumes: ['/srv:/srv:rwz']\n")
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    extends: {file: components.yaml, service: base}\n"
                                            "    user: root\n    volumes: ['/a:/b:nope']\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path / "compose.yaml", environ={})
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'compose.yaml'}:5:15: services.web.volumes[1]: unknown mount mode 'nope'; use ro, rw, z, Z, "
        "nocopy or a propagation (rprivate, private, rshared, shared, rslave, slave)",
        f"{tmp_path / 'components.yaml'}:4:15: services.web.volumes[0]: unknown mount mode 'rwz'; use ro, rw, z, Z, "
        "nocopy or a propagation (rprivate, private, rshared, shared, rslave, slave)",
    ]


def test_extends_cycles_and_unknown_services_are_errors() -> None:
    found = errors("""
        services:
          a: {image: busybox, extends: b}
          b: {image: busybox, extends: {service: a}}
          c: {image: busybox, extends: nope}
    """)
    assert any("services.b.extends: extends cycle: a -> b -> a" in e for e in found), found
    assert any("services.c.extends: extends undefined service 'nope'" in e for e in found), found


def _write(folder, files: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(dedent(text))


def test_include_short_and_long_forms(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tui_orch.manifest import load_manifest

    _write(tmp_path, {
        "app.yaml": """
            include:
              - db/compose.yaml
              - path: cache/compose.yaml
                env_file: cache/versions.env
            services:
              web: {image: nginx, depends_on: [db, cache]}
        """,
        "db/compose.yaml": "services:\n  db: {image: 'postgres:${PG}', env_file: db.env}\n",
        "db/.env": "PG=16\n",  # the included project's own .env
        "db/db.env": "POSTGRES_DB=shop\n",  # relative to the included file's folder
        "cache/compose.yaml": "services:\n  cache: {image: 'redis:${REDIS}'}\n",
        "cache/versions.env": "REDIS=7\n",
    })
    m = load_manifest(tmp_path / "app.yaml", environ={})
    assert m.names == ("web", "db", "cache")
    assert m.service("db").image == "postgres:16" and dict(m.service("db").environment) == {"POSTGRES_DB": "shop"}
    assert m.service("cache").image == "redis:7"


def _load_errors(path) -> list[str]:  # type: ignore[no-untyped-def]
    from tui_orch.manifest import load_manifest

    with pytest.raises(ManifestError) as info:
        load_manifest(path, environ={})
    return [str(p) for p in info.value.problems]


def test_include_cycles_missing_files_and_services_twice_are_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _write(tmp_path, {
        "a.yaml": "include: [b.yaml]\nservices:\n  web: {image: nginx}\n",
        "b.yaml": "include: [a.yaml]\nservices:\n  api: {image: nginx}\n",
        "c.yaml": "include: [d.yaml, nope.yaml]\nservices:\n  web: {image: nginx}\n",
        "d.yaml": "services:\n  web: {image: nginx:2}\n",
    })
    found = _load_errors(tmp_path / "a.yaml")
    assert found == [f"{tmp_path / 'b.yaml'}:1:11: include[0]: include cycle: a.yaml -> b.yaml -> a.yaml; "
                     "remove one of these includes"], found
    found = _load_errors(tmp_path / "c.yaml")
    assert any(f"include[1]: included file {tmp_path / 'nope.yaml'}: no such file; check the path" in e
               for e in found), found
    assert any(f"services.web: service web is defined in both {tmp_path / 'c.yaml'} and {tmp_path / 'd.yaml'}"
               in e for e in found), found


def test_a_dependency_that_has_errors_is_not_called_undefined(tmp_path) -> None:
    """awesome-compose's nginx-golang: backend's build context is missing; the one error says so,
    and proxy's depends_on: [backend] is not reported as 'undefined service' on top of it."""
    found = errors("""
        services:
          proxy: {image: nginx, depends_on: [backend]}
          backend: {build: {context: no-such-folder}}
    """, base_dir=str(tmp_path))
    assert len(found) == 1 and "services.backend.build" in found[0], found


def test_an_included_file_declares_its_own_volumes(tmp_path) -> None:
    """include brings the included file's top-level volumes, as Compose does: a db.yaml that
    declares and mounts its volume is valid, and the volume is named after the main project."""
    (tmp_path / "db.yaml").write_text("services:\n  db:\n    image: postgres\n    volumes: [data:/var/lib/postgresql/data]\n"
                                      "volumes:\n  data:\n    labels: {tier: db}\n")
    (tmp_path / "compose.yaml").write_text("name: shop\ninclude: [db.yaml]\nservices:\n  web: {image: nginx}\n")
    from tui_orch.manifest import load_manifest

    m = load_manifest(tmp_path / "compose.yaml", environ={})
    assert [(v.key, v.name, v.labels) for v in m.service("db").volumes] == [("data", "shop_data", (("tier", "db"),))]
    (tmp_path / "db.yaml").write_text("services:\n  db:\n    image: postgres\n    volumes: [data:/x]\nvolumes:\n  data: {driver: 3x}\n  -bad: {}\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path / "compose.yaml", environ={})
    assert any(str(p).startswith(f"{tmp_path / 'db.yaml'}:7:") for p in info.value.problems), info.value.problems


def test_a_service_the_profiles_leave_out_does_not_block_the_file_with_what_tui_orch_refuses() -> None:
    # docker-elk: its setup service (profile setup) shares elasticsearch's network namespace
    text = """
        services:
          elasticsearch: {image: elasticsearch:8}
          setup:
            image: busybox
            profiles: [setup]
            network_mode: service:elasticsearch
          extra: {image: busybox, profiles: [extra], networks: [nowhere]}
        """
    manifest = parse(text)
    assert manifest.names == ("elasticsearch",) and manifest.left_out == (("extra", ("extra",)), ("setup", ("setup",)))
    said = [w for w in map(str, manifest.warnings) if "left out" in w]
    assert said == [
        "app.yaml:7:19: warning: services.setup.network_mode: left out (profiles setup); enabled, it would be "
        "refused: 'service:elasticsearch' is not supported: replicas may run on other nodes than the service whose "
        "network they would share; put both services on one network (networks:) and reach it by name",
        "app.yaml:8:3: warning: services.extra.networks: left out (profiles extra); enabled, it would be refused: "
        "network nowhere is not declared; add it under the top-level networks: (nowhere: {})",
    ], said
    # enabled, it is refused as before
    assert errors(text, profiles=["setup"]) == [
        "app.yaml:7:19: services.setup.network_mode: 'service:elasticsearch' is not supported: replicas may run on "
        "other nodes than the service whose network they would share; put both services on one network (networks:) "
        "and reach it by name"]
