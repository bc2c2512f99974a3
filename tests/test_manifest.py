"""Compose manifests -> ServiceSpec, and every problem as file:line:column: path: message."""

from __future__ import annotations

import os
import re
from pathlib import Path
from textwrap import dedent, indent

import pytest
import yaml

from tui_orch.errors import ManifestError, Problem
from tui_orch.manifest import DECISIONS, Manifest, load_manifest, parse_manifest, reader
from tui_orch.model import (
    Constraint, Healthcheck, Placement, PortSpec, Resources, ResourceSpec, RestartPolicy, ServiceSpec,
    UpdateConfig,
)

ROOT = Path(__file__).parent.parent
MiB, GiB = 1024**2, 1024**3


def parse(text: str, **kw: object) -> Manifest:
    kw.setdefault("environ", {})
    return parse_manifest(dedent(text), "web.yaml", **kw)  # type: ignore[arg-type]


def errors(text: str, **kw: object) -> list[str]:
    with pytest.raises(ManifestError) as info:
        parse(text, **kw)
    return [str(p) for p in info.value.problems]


def warnings(text: str, **kw: object) -> list[str]:
    return [str(p) for p in parse(text, **kw).warnings]


def service(body: str = "", image: str = "nginx:1.27") -> str:
    """A manifest with one service ``web``: the body's first line is line 4, column 5."""
    return f"services:\n  web:\n    image: {image}\n" + indent(dedent(body), "    ")


def web(body: str = "", **kw: object) -> ServiceSpec:
    manifest = parse(service(body), **kw)
    assert manifest.names == ("web",)
    return manifest.services[0]


# --------------------------------------------------------------------------- whole files


def test_minimal_service_gets_swarm_defaults() -> None:
    spec = web()
    # on the project's default network (issue 13): reached by name by the project's services
    assert spec == ServiceSpec(name="web", image="nginx:1.27", networks=spec.networks)
    project = parse(service()).project_name
    assert [(n.key, n.name, n.aliases) for n in spec.networks] == [("default", f"{project}_default", ())]
    assert spec.replicas == 1 and spec.mode == "replicated"
    assert spec.restart_policy == RestartPolicy("any", 5.0, 0, 0.0)
    assert spec.update_config == UpdateConfig(1, 0.0, "pause", 5.0, 0.0, "stop-first")
    assert spec.rollback_config == spec.update_config
    assert spec.stop_grace_period == 10.0 and spec.healthcheck is None


def test_every_supported_key(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("# comment\nFROM_FILE=1\nSHARED=file\n")
    (tmp_path / "web.yaml").write_text(dedent("""\
        name: shop
        x-base: &base
          user: "1000:1000"
        services:
          web:
            <<: *base
            image: registry.example.org:5000/shop/web:1.4
            command: gunicorn -b "0.0.0.0:$$PORT" app
            entrypoint: ["/tini", "--"]
            environment: [LOG=info, SHARED=env, FROM_SHELL]
            env_file: [app.env, {path: optional.env, required: false}]
            ports: ["8000", "127.0.0.1:8080:80/udp", {target: 9000, published: 9001, host_ip: "::1"}]
            network_mode: host
            labels: {team: shop, tier: front}
            healthcheck: {test: curl -f http://localhost/, interval: 5s, timeout: 2s, retries: 4, start_period: 1m}
            stop_grace_period: 1m30s
            stop_signal: SIGQUIT
            restart: on-failure:3
            working_dir: /srv
            deploy:
              replicas: 3
              labels: [tier=back, owner=ops]
              resources:
                limits: {cpus: "1.5", memory: 1g}
                reservations: {cpus: 0.25, memory: 256m}
              update_config: {parallelism: 2, delay: 10s, failure_action: rollback, monitor: 30s, max_failure_ratio: 0.25, order: start-first}
              rollback_config: {parallelism: 0, failure_action: continue}
              placement:
                constraints: [node.labels.zone != eu-1c, "node.hostname==app-1", node.role == worker, node.id!=x]
                preferences: [{spread: node.labels.zone}]
                max_replicas_per_node: 2
        """))
    manifest = load_manifest(tmp_path / "web.yaml", environ={"FROM_SHELL": "yes"})
    assert manifest.name == "shop"
    assert [w.message for w in manifest.warnings] == [  # the one thing it says: network_mode host keeps ports on the node
        "web has network_mode: host: a host-network replica binds its ports itself, so the edge proxy cannot take "
        "port(s) 8080/udp, 9001 on its node; they are published on each node that runs a replica of web (mode host)"]
    assert manifest.file == str(tmp_path / "web.yaml")
    assert manifest.service("web") == ServiceSpec(
        name="web",
        image="registry.example.org:5000/shop/web:1.4",
        command=("gunicorn", "-b", "0.0.0.0:$PORT", "app"),
        entrypoint=("/tini", "--"),
        environment=(("FROM_FILE", "1"), ("FROM_SHELL", "yes"), ("LOG", "info"), ("SHARED", "env")),
        ports=(
            PortSpec(target=8000),
            PortSpec(target=80, published=8080, protocol="udp", host_ip="127.0.0.1"),
            PortSpec(target=9000, published=9001, host_ip="::1"),
        ),
        network_mode="host",
        labels=(("owner", "ops"), ("team", "shop"), ("tier", "front")),
        healthcheck=Healthcheck(("CMD-SHELL", "curl -f http://localhost/"), 5.0, 2.0, 4, 60.0),
        stop_grace_period=90.0,
        stop_signal="SIGQUIT",
        restart="on-failure:3",
        user="1000:1000",
        working_dir="/srv",
        replicas=3,
        resources=ResourceSpec(Resources(1.5, GiB), Resources(0.25, 256 * MiB)),
        restart_policy=RestartPolicy(condition="on-failure", max_attempts=3),
        update_config=UpdateConfig(2, 10.0, "rollback", 30.0, 0.25, "start-first"),
        rollback_config=UpdateConfig(parallelism=0, failure_action="continue"),
        placement=Placement(
            (
                Constraint("node.labels.zone", "!=", "eu-1c"),
                Constraint("node.hostname", "==", "app-1"),
                Constraint("node.role", "==", "worker"),
                Constraint("node.id", "!=", "x"),
            ),
            ("node.labels.zone",),
            2,
        ),
    )


@pytest.mark.parametrize("name", ["web.yaml", "worker.yaml", "stack.yaml"])
def test_examples_are_valid(name: str) -> None:
    manifest = load_manifest(ROOT / "examples" / name, environ={})
    assert manifest.services and manifest.warnings == ()


def test_example_stack() -> None:
    manifest = load_manifest(ROOT / "examples" / "stack.yaml", environ={})
    assert manifest.name == "demo-stack"
    assert manifest.names == ("frontend", "api", "agent", "batch")
    assert manifest.service("agent").mode == "global"
    assert manifest.service("batch").restart_policy == RestartPolicy("on-failure", max_attempts=3)
    assert manifest.service("frontend").command == ("sh", "-c", "exec httpd -f -p 127.0.0.1:$PORT -h /www")
    assert all(s.network_mode == "host" and s.stop_grace_period == 1.0 for s in manifest.services)


def test_several_errors_are_reported_at_once_in_file_order() -> None:
    text = """\
        services:
          web:
            image: nginx
            deploy:
              replicas: three
              resources:
                limits: {memory: 12q}
          api:
            imgae: api:1
          db:
            image: postgres:16
            restart: sometimes
        """
    assert errors(text) == [
        "web.yaml:5:17: services.web.deploy.replicas: expected a whole number, got 'three'",
        "web.yaml:7:26: services.web.deploy.resources.limits.memory: expected a size such as 512m or 2g, got '12q'",
        "web.yaml:9:5: services.api: missing image: (the image to run, such as nginx:1.27) or build: (the folder to build it from)",
        "web.yaml:9:5: services.api.imgae: unknown key; did you mean image?",
        "web.yaml:12:14: services.db.restart: expected no, always, on-failure[:N] or unless-stopped, got 'sometimes'",
    ]


def test_manifest_error_keeps_only_errors_and_warnings_do_not_block() -> None:
    with pytest.raises(ManifestError) as info:
        parse("version: '3'\nservices: {web: {image: x, replicas: 2}}\n")
    assert [p.severity for p in info.value.problems] == ["error"]
    assert parse("version: '3'\nservices: {web: {image: x}}\n").warnings == (
        Problem("web.yaml", 1, 1, "version", "obsolete and ignored (as in Compose v2); remove it", "warning"),
    )


# --------------------------------------------------------------------------- files


def test_missing_file() -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest("no/such/web.yaml")
    assert str(info.value) == "no/such/web.yaml: no such file; check the path"
    assert info.value.problems[0].line == 0


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=re.escape(f"{tmp_path}: is a folder, not a Compose file")):
        load_manifest(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "web.yaml"
    path.write_text("services: {}\n")
    path.chmod(0)
    with pytest.raises(ManifestError, match="cannot read the file: Permission denied"):
        load_manifest(path)


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "socket"])
def test_only_regular_files_are_read_never_a_fifo_or_device(tmp_path: Path, special: str) -> None:
    """A FIFO with no writer would block forever and /dev/zero never ends: refused at once."""
    import socket

    path = tmp_path / "web.yaml"
    if special == "fifo":
        os.mkfifo(path)
    elif special == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    else:
        path = Path(special)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    what = {"fifo": "a named pipe (FIFO)", "socket": "a socket", "/dev/zero": "a device"}[special]
    assert str(info.value) == f"{path}: is {what}, not a regular file; give the path of a file"


def test_an_env_file_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.env")
    os.mkfifo(tmp_path / ".env")  # beside the manifest: read as a .env file would be
    path = _write_manifest(tmp_path, "env_file: pipe.env\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(path, environ={})
    assert [str(p) for p in info.value.problems] == [
        f"{path}:4:15: services.web.env_file: cannot read env file {tmp_path / 'pipe.env'}: "
        "is a named pipe (FIFO), not a regular file; give the path of a file",
    ]


def test_errors_stop_at_100_per_file_with_and_n_more(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("services:\n" + "".join(f"  s{i}: {{imag: x, deploy: {{replicas: -1}}}}\n" for i in range(5000)))
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 101
    assert lines[-1] == f"{path}: and 2 more errors (only the first 100 are shown); stopped reading there, " \
                        "4966 more services not checked"
    assert info.value.total == 102  # 3 errors in each of 34 services


def test_bytes_bom_and_bad_utf8() -> None:
    assert parse_manifest(b"\xef\xbb\xbfservices: {web: {image: x}}\n", "b.yaml").names == ("web",)
    with pytest.raises(ManifestError) as info:
        parse_manifest(b"services:\n  web:\n    image: \xff\n", "b.yaml")
    assert str(info.value) == "b.yaml:3:12: not UTF-8 text (byte 0xff); save the file as UTF-8"


def test_dotenv_beside_the_manifest(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TAG=1.27\nREPLICAS=2\n")
    (tmp_path / "web.yaml").write_text("services:\n  web:\n    image: nginx:${TAG}\n    deploy: {replicas: $REPLICAS}\n")
    spec = load_manifest(tmp_path / "web.yaml", environ={"TAG": "1.28"}).services[0]
    assert (spec.image, spec.replicas) == ("nginx:1.28", 2)  # the environment wins over .env


def test_bad_dotenv_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OK=1\nnot a line\n")
    (tmp_path / "web.yaml").write_text("services: {web: {image: x}}\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path / "web.yaml", environ={})
    assert str(info.value) == f"{tmp_path / '.env'}:2:1: expected KEY=VALUE, got 'not a line'"


# --------------------------------------------------------------------------- YAML


@pytest.fixture(params=["libyaml", "python"])
def yaml_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with libyaml's scanner (the default when PyYAML has it) and with PyYAML's own."""
    if request.param == "libyaml" and not yaml.__with_libyaml__:
        pytest.skip("PyYAML is built without libyaml")
    monkeypatch.setattr(reader, "USE_LIBYAML", request.param == "libyaml")
    return str(request.param)


@pytest.mark.parametrize(
    ("text", "where", "libyaml", "python"),
    [
        ("services:\n  web:\n    image: [\n", "4:1", "while parsing a flow node, did not find expected node content",
         "while parsing a flow node, expected the node content, but found '<stream end>'"),
        ("services:\n  web: {image: x\n", "3:1", "while parsing a flow mapping, did not find expected ',' or '}'",
         "while parsing a flow mapping, expected ',' or '}', but got '<stream end>'"),
        ("services:\n\tweb: {}\n", "2:1", "while scanning for the next token, found character that cannot start any token",
         "while scanning for the next token, found character '\\t' that cannot start any token"),
        ("services: {web: {image: x: y}}\n", "1:26", "while parsing a flow mapping, did not find expected ',' or '}'",
         "while parsing a flow mapping, expected ',' or '}', but got ':'"),
        ("services:\n  web: image: x\n", "2:13", "mapping values are not allowed in this context",
         "mapping values are not allowed here"),
        ("a: 1\n---\nb: 2\n", "2:1", "expected a single document in the stream, but found another document", None),
        ("services: {web: {image: *nope}}\n", "1:25", "found undefined alias 'nope'", None),
        ("services: {a: &x 1, b: &x 2}\n", "1:24", "found duplicate anchor 'x'; first occurrence, second occurrence", None),
        ("services:\n  web:\n    image: \"x\x00\"\n", "3:14", "character '\\x00' is not allowed", None),
        ("[" * 50 + "]" * 50, "1:41", "nested more than 40 levels deep", None),
    ],
)
def test_yaml_errors_have_positions(yaml_impl: str, text: str, where: str, libyaml: str, python: str | None) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, "web.yaml")
    message = libyaml if yaml_impl == "libyaml" or python is None else python
    assert [str(p) for p in info.value.problems] == [f"web.yaml:{where}: invalid YAML: {message}"]


def test_both_yaml_scanners_compose_the_same_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "examples" / "stack.yaml").read_text()
    specs = []
    for fast in (True, False) if yaml.__with_libyaml__ else (False,):
        monkeypatch.setattr(reader, "USE_LIBYAML", fast)
        specs.append(parse_manifest(text, "stack.yaml", environ={}))
    assert all(s == specs[0] for s in specs)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "web.yaml:1:1: the file is empty; describe the services under services:"),
        ("# only a comment\n", "web.yaml:1:1: the file is empty; describe the services under services:"),
        ("- web\n", "web.yaml:1:1: expected a mapping with services:, got a list"),
        ("just text\n", "web.yaml:1:1: expected a mapping with services:, got 'just text'"),
        ("name: x\n", "web.yaml:1:1: services: missing: describe the services to run under services:"),
        ("services: {}\n", "web.yaml:1:11: services: no services: describe at least one"),
        ("services:\n", "web.yaml:1:10: services: no services: describe at least one"),
        ("services: [web]\n", "web.yaml:1:11: services: expected a mapping (key: value), got a list"),
    ],
)
def test_document_shape(text: str, message: str) -> None:
    assert errors(text) == [message]


def test_anchors_aliases_and_merge_keys() -> None:
    manifest = parse("""\
        x-common: &common
          image: busybox:1
          environment: {A: "1"}
        x-more: &more
          stop_signal: SIGINT
          environment: {B: "2"}
        services:
          one:
            <<: [*common, *more]
            environment: {C: "3"}
          two:
            <<: *common
            image: busybox:2
        """)
    one, two = manifest.services
    assert (one.image, one.environment, one.stop_signal) == ("busybox:1", (("C", "3"),), "SIGINT")
    assert (two.image, two.environment) == ("busybox:2", (("A", "1"),))


def test_merge_errors() -> None:
    assert errors("services:\n  web: &w\n    <<: *w\n    image: x\n") == [
        "web.yaml:2:8: services.web.<<: this mapping merges itself (<< through a recursive alias)",
    ]
    assert errors("services:\n  web:\n    <<: [1]\n    image: x\n") == [
        "web.yaml:3:10: services.web.<<: expected a mapping (key: value), got '1'",
    ]


def test_duplicate_keys() -> None:
    assert errors(service("image: other\n")) == [
        "web.yaml:4:5: services.web.image: duplicate key (first set on line 3)",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("command: !!python/object:os.system {}\n", "web.yaml:4:14: services.web.command: unsupported YAML tag !!python/object:os.system: write a plain mapping without a tag"),
        ("user: !!python/name:os.getuid ''\n", "web.yaml:4:11: services.web.user: unsupported YAML tag !!python/name:os.getuid: write a plain value without a tag"),
        ("user: !!binary aGVsbG8=\n", "web.yaml:4:11: services.web.user: unsupported YAML tag !!binary: write a plain value without a tag"),
        ("labels: !!set {a}\n", "web.yaml:4:13: services.web.labels: unsupported YAML tag !!set: write a plain mapping without a tag"),
        ("labels: !custom [a=b]\n", "web.yaml:4:13: services.web.labels: unsupported YAML tag !custom: write a plain list without a tag"),
        ("? [a]\n: 1\n", "web.yaml:4:7: services.web: keys must be plain names, got a list"),
    ],
)
def test_tags_and_odd_keys(body: str, message: str) -> None:
    assert errors(service(body)) == [message]


def test_python_tags_build_nothing() -> None:
    assert errors("services: !!python/object/apply:os.system [echo hi]\n") == [
        "web.yaml:1:11: services: unsupported YAML tag !!python/object/apply:os.system: write a plain list without a tag",
    ]


def test_recursive_alias_and_alias_bomb() -> None:
    assert errors("a: &a [*a]\nservices: {web: {image: x, command: *a}}\n") == [
        "web.yaml:1:1: a: unknown key; expected one of services, name, networks, secrets, configs, volumes, include",
        "web.yaml:1:4: services.web.command[0]: expected a word of the command, got a list",
    ]
    bomb = "x-a: &a [" + ",".join(["x"] * 50) + "]\n"
    for level in "bcd":
        prev = chr(ord(level) - 1)
        bomb += f"x-{level}: &{level} [" + ",".join([f"*{prev}"] * 50) + "]\n"
    bomb += "services: {web: {image: x}}\n"
    assert errors(bomb) == ["web.yaml:1:1: the document expands to more than 200000 values through aliases; write it out"]


def test_keys_that_are_not_strings() -> None:
    manifest = parse("services:\n  1:\n    image: x\n  true:\n    image: y\n")
    assert manifest.names == ("1", "true")


# --------------------------------------------------------------------------- top level


def test_top_level_decisions() -> None:
    text = """\
        version: "3.8"
        name: my-app_2
        x-anything: {whatever: [1, 2]}
        networks: {front: {}}
        secrets: {}
        configs: {}
        services: {web: {image: x}}
        """
    assert parse(text).name == "my-app_2"
    assert warnings(text) == [
        "web.yaml:1:1: warning: version: obsolete and ignored (as in Compose v2); remove it",
    ]


def test_top_level_errors() -> None:
    assert errors("include: [a.yaml]\nname: My App\nservice: {}\nservices: {web: {image: x}}\n") == [
        f"web.yaml:1:11: include[0]: included file {os.path.abspath('a.yaml')}: no such file; check the path",
        "web.yaml:2:7: name: a project name is lowercase letters, digits, '-' and '_', starting with a letter or digit, got 'My App'",
        "web.yaml:3:1: service: unknown key; did you mean services?",
    ]


@pytest.mark.parametrize("name", ["bad name", "-web", "_web", ".web", "we/b", ""])
def test_bad_service_names(name: str) -> None:
    assert errors(f"services:\n  '{name}': {{image: x}}\n") == [
        f"web.yaml:2:3: services.{name}: a service name is letters, digits, '.', '_' and '-', "
        f"starting with a letter or digit, got {name!r}",
    ]


def test_good_service_names() -> None:
    assert parse("services: {web.1_a-b: {image: x}, 9: {image: x}, A: {image: x}}").names == ("web.1_a-b", "9", "A")


# --------------------------------------------------------------------------- image, command


@pytest.mark.parametrize(
    "image",
    [
        "nginx", "nginx:1.27", "library/nginx:latest", "localhost:5000/app:1", "registry.example.org:5000/team/app",
        "ghcr.io/a-b/c__d.e:v1.2_3", "app@sha256:" + "a" * 64, "app:1@sha256:" + "0" * 64, "[::1]:5000/app", "Registry.io/app:V1",
    ],
)
def test_good_images(image: str) -> None:
    assert parse(service(image=f"'{image}'")).services[0].image == image


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("Nginx", "not a valid image reference (repository names are lowercase): 'Nginx'; write it like nginx:1.27 or registry.example.org/team/app:2"),
        ("'ngi nx'", "not a valid image reference: 'ngi nx'; write it like nginx:1.27 or registry.example.org/team/app:2"),
        ("'app:'", "not a valid image reference: 'app:'; write it like nginx:1.27 or registry.example.org/team/app:2"),
        ("''", "the image is empty; name the image to run, such as nginx:1.27"),
        ("", "expected an image name such as nginx:1.27, got nothing (null)"),
        ("[a]", "expected an image name such as nginx:1.27, got a list"),
    ],
)
def test_bad_images(image: str, message: str) -> None:
    assert errors(service(image=image)) == [f"web.yaml:3:{12 if image else 11}: services.web.image: {message}"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("echo hello world", ("echo", "hello", "world")),
        ("sh -c 'echo \"a b\"; exit 1'", ("sh", "-c", 'echo "a b"; exit 1')),
        ('["sh", "-c", "echo $$HOME"]', ("sh", "-c", "echo $HOME")),
        ("[sleep, 10]", ("sleep", "10")),
        ("[]", ()),
        ("''", ()),
        ("~", None),
    ],
)
def test_command_and_entrypoint(value: str, expected: tuple[str, ...] | None) -> None:
    spec = web(f"command: {value}\nentrypoint: {value}\n")
    assert spec.command == expected and spec.entrypoint == expected


def test_command_errors() -> None:
    assert errors(service("command: {a: b}\n")) == [
        "web.yaml:4:14: services.web.command: expected a command: a string or a list of words, got a mapping",
    ]
    assert errors(service("command: echo 'oops\nentrypoint: [sh, {a: b}]\n")) == [
        "web.yaml:4:14: services.web.command: cannot split \"echo 'oops\" into words (No closing quotation); fix the quotes, or write a list",
        "web.yaml:5:22: services.web.entrypoint[1]: expected a word of the command, got a mapping",
    ]


# --------------------------------------------------------------------------- environment, labels, env_file


def test_environment_forms() -> None:
    env = {"FROM_SHELL": "shell", "EMPTY": ""}
    listed = web("environment: [A=1, B=, C=x=y, FROM_SHELL, NOT_SET, EMPTY]\n", environ=env)
    assert dict(listed.environment) == {"A": "1", "B": "", "C": "x=y", "FROM_SHELL": "shell", "EMPTY": ""}
    mapped = web("environment: {A: 1, B: '', C: 3.10, D: yes, FROM_SHELL: , NOT_SET: null}\n", environ=env)
    assert dict(mapped.environment) == {"A": "1", "B": "", "C": "3.10", "D": "yes", "FROM_SHELL": "shell"}


def test_environment_errors() -> None:
    assert errors(service("environment: [=1, [a], OK=1]\n")) == [
        "web.yaml:4:19: services.web.environment[0]: expected VARIABLE=VALUE, got '=1'",
        "web.yaml:4:23: services.web.environment[1]: expected VARIABLE=VALUE, got a list",
    ]
    assert errors(service("environment: {'A=B': 1, C: [1]}\n")) == [
        "web.yaml:4:19: services.web.environment.A=B: expected a variable name without '=', got 'A=B'",
        "web.yaml:4:32: services.web.environment.C: expected a single value, got a list",
    ]
    assert errors(service("environment: A=1\n")) == [
        "web.yaml:4:18: services.web.environment: expected a list of VARIABLE=VALUE or a mapping, got 'A=1'",
    ]


def test_labels_and_deploy_labels() -> None:
    spec = web("labels: [a=1, b, c=x]\ndeploy: {labels: {c: deploy, d: 2}}\n")
    assert dict(spec.labels) == {"a": "1", "b": "", "c": "x", "d": "2"}
    assert dict(web("labels: {a: null, b: 2}\n").labels) == {"a": "", "b": "2"}


def _write_manifest(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "web.yaml"
    path.write_text(service(body))
    return path


def test_env_files(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "a.env").write_text(dedent("""\
        # a comment

        export A=1
        B = spaced value   # comment
        C='literal $HOME # not a comment'
        D="line\\nbreak \\"q\\" ${A}"
        E=${SHELL_VAR:-fallback}/x
        F
        SHARED=a
        """))
    (tmp_path / "b.env").write_text("SHARED=b\n")
    path = _write_manifest(tmp_path, "env_file: [conf/a.env, b.env, {path: gone.env, required: false}]\nenvironment: {B: over}\n")
    env = dict(load_manifest(path, environ={"F": "from-shell"}).services[0].environment)
    assert env == {
        "A": "1", "B": "over", "C": "literal $HOME # not a comment", "D": 'line\nbreak "q" 1',
        "E": "fallback/x", "F": "from-shell", "SHARED": "b",
    }


def test_env_file_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.env").write_text("OK=1\n1X=2\nQ='open\nR=\"x\" y\nS=$\n")
    (tmp_path / "folder.env").mkdir()
    path = _write_manifest(tmp_path, "env_file: [missing.env, bad.env, folder.env, {path: x.env, format: raw}, {required: true}]\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(path, environ={})
    bad = tmp_path / "bad.env"
    assert [str(p) for p in info.value.problems] == [
        f"{path}:4:16: services.web.env_file: env file 'missing.env' not found (looked for {tmp_path / 'missing.env'}); create it, or set required: false",
        f"{path}:4:38: services.web.env_file: env file 'folder.env' is a folder ({tmp_path / 'folder.env'})",
        f"{path}:4:57: services.web.env_file: env file 'x.env' not found (looked for {tmp_path / 'x.env'}); create it, or set required: false",
        f"{path}:4:64: services.web.env_file[3].format: not supported: env files are read in the usual KEY=VALUE format; remove format",
        f"{path}:4:78: services.web.env_file[4]: missing path: (the env file)",
        f"{bad}:2:1: services.web.env_file: expected KEY=VALUE, got '1X=2'",
        f"{bad}:3:3: services.web.env_file: Q: no closing ' on this line",
        f"{bad}:4:3: services.web.env_file: R: unexpected 'y' after the closing quote",
        f"{bad}:5:3: services.web.env_file: S: invalid interpolation at '$': write $$ for a literal $",
    ]


def test_env_file_relative_to_the_manifest_folder_of_parse_manifest(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text("A=1\n")
    spec = parse_manifest(service("env_file: a.env\n"), "web.yaml", environ={}, base_dir=str(tmp_path)).services[0]
    assert spec.environment == (("A", "1"),)
    assert errors(service("env_file: a.env\n"), base_dir=str(tmp_path / "nope"))[0].startswith(
        "web.yaml:4:15: services.web.env_file: env file 'a.env' not found"
    )


# --------------------------------------------------------------------------- ports, network


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ('"80"', PortSpec(target=80)),
        ("80", PortSpec(target=80)),
        ("80:80", PortSpec(target=80, published=80, mode="ingress")),  # not YAML 1.1's base-60 4880
        ('"8080:80"', PortSpec(target=80, published=8080, mode="ingress")),
        ('"127.0.0.1:8080:80/udp"', PortSpec(target=80, published=8080, protocol="udp", host_ip="127.0.0.1")),
        ('"127.0.0.1::80"', PortSpec(target=80, host_ip="127.0.0.1")),
        ('"[::1]:8080:80"', PortSpec(target=80, published=8080, host_ip="::1", mode="ingress")),
        ('"9000/tcp"', PortSpec(target=9000)),
        ("{target: 80}", PortSpec(target=80)),
        ('{target: "80", published: "8080", protocol: udp, host_ip: 0.0.0.0, mode: host}',
         PortSpec(target=80, published=8080, protocol="udp", host_ip="0.0.0.0")),
    ],
)
def test_ports(port: str, expected: PortSpec) -> None:
    assert web(f"ports:\n  - {port}\n").ports == (expected,)


def test_port_warnings() -> None:
    body = "ports: [{target: 80, mode: ingress, name: web, app_protocol: http}]\n"
    assert web(body).ports == (PortSpec(target=80, mode="host"),)
    assert warnings(service(body)) == [
        "web.yaml:4:32: warning: services.web.ports[0].mode: mode ingress needs published: (the port every node answers on); without it each replica gets a dynamic host port (mode host)",
        "web.yaml:4:41: warning: services.web.ports[0].name: ignored: port names are not used",
        "web.yaml:4:52: warning: services.web.ports[0].app_protocol: ignored: the application protocol is not used",
    ]


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ('"8000-8010:80"', "port ranges are not supported: list each port on its own, got '8000-8010:80'"),
        ('"70000"', "port numbers are 1-65535, got 70000"),
        ('"0:80"', "port numbers are 1-65535, got 0"),
        ('"http"', "expected a port such as \"8080:80\", \"127.0.0.1:8080:80/udp\" or \"80\", got 'http'"),
        ('"80/sctp"', "expected protocol tcp or udp, got 'sctp'"),
        ('"::1:80:80"', "expected a port such as \"8080:80\", \"127.0.0.1:8080:80/udp\" or \"80\" (an IPv6 address goes in brackets: [::1]:8080:80), got '::1:80:80'"),
        ('"myhost:80:80"', "expected an IP address to publish on, got 'myhost'"),
        ('"[::1]80"', "expected a port such as \"8080:80\", \"127.0.0.1:8080:80/udp\" or \"80\", got '[::1]80'"),
        ("{published: 80}", "missing target: (the container port)"),
        ("[80]", "expected a port such as \"8080:80\", \"127.0.0.1:8080:80/udp\" or \"80\", got a list"),
    ],
)
def test_port_errors(port: str, message: str) -> None:
    assert errors(service(f"ports:\n  - {port}\n")) == [f"web.yaml:5:9: services.web.ports[0]: {message}"]


def test_long_port_errors() -> None:
    assert errors(service("ports: [{target: 0, published: 8080-8081, protocol: sctp, mode: x, tagret: 1}]\n")) == [
        "web.yaml:4:22: services.web.ports[0].target: port numbers are 1-65535, got 0",
        "web.yaml:4:36: services.web.ports[0].published: port ranges are not supported: list each port on its own, got '8080-8081'",
        "web.yaml:4:57: services.web.ports[0].protocol: expected protocol tcp or udp, got 'sctp'",
        "web.yaml:4:69: services.web.ports[0].mode: expected one of host, ingress, got 'x'",
        "web.yaml:4:72: services.web.ports[0].tagret: unknown key; did you mean target?",
    ]
    assert errors(service("ports: '80'\n")) == ["web.yaml:4:12: services.web.ports: expected a list, got '80'"]


@pytest.mark.parametrize("mode", ["host", "bridge", "none"])
def test_network_modes(mode: str) -> None:
    assert web(f"network_mode: {mode}\n").network_mode == mode


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("network_mode: service:db\n", "web.yaml:4:19: services.web.network_mode: 'service:db' is not supported: replicas may run on other nodes than the service whose network they would share; put both services on one network (networks:) and reach it by name"),
        ("network_mode: container:abc\n", "web.yaml:4:19: services.web.network_mode: 'container:abc' is not supported: replicas may run on other nodes than the container whose network they would share; put both services on one network (networks:) and reach it by name"),
        ("network_mode: mynet\n", "web.yaml:4:19: services.web.network_mode: expected host, bridge or none, got 'mynet'; to attach the service to a network, list it under networks:"),
        ("network_mode: none\nports: ['80']\n", "web.yaml:5:5: services.web.ports: network_mode none has no network to publish ports on; remove ports or the network_mode"),
    ],
)
def test_network_mode_errors(body: str, message: str) -> None:
    assert errors(service(body)) == [message]


# --------------------------------------------------------------------------- healthcheck


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{test: curl -f http://localhost/}", Healthcheck(("CMD-SHELL", "curl -f http://localhost/"))),
        ("{test: [CMD, curl, -f, x]}", Healthcheck(("CMD", "curl", "-f", "x"))),
        ("{test: [CMD-SHELL, 'curl x || exit 1']}", Healthcheck(("CMD-SHELL", "curl x || exit 1"))),
        ("{test: [NONE]}", Healthcheck(("NONE",))),
        ("{disable: true}", Healthcheck(("NONE",), disable=True)),
        ("{disable: false, test: [CMD, x]}", Healthcheck(("CMD", "x"), disable=False)),
        ("{interval: 10s, timeout: 500ms, retries: 5, start_period: 1m}", Healthcheck(None, 10.0, 0.5, 5, 60.0)),
        ("{}", Healthcheck()),
    ],
)
def test_healthchecks(body: str, expected: Healthcheck) -> None:
    assert web(f"healthcheck: {body}\n").healthcheck == expected


def test_healthcheck_disabled_is_not_enabled() -> None:
    assert not web("healthcheck: {disable: true}\n").healthcheck.enabled  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{test: ''}", "4:25: services.web.healthcheck.test: the test is empty; write a command, or disable: true to turn the check off"),
        ("{test: []}", "4:25: services.web.healthcheck.test: the test is empty; write a command, or disable: true to turn the check off"),
        ("{test: [CMD]}", "4:25: services.web.healthcheck.test: CMD needs the command after it, such as [CMD, curl, -f, http://localhost/]"),
        ("{test: [CMD-SHELL, a, b]}", "4:25: services.web.healthcheck.test: CMD-SHELL takes exactly one command string after it (or use CMD with one word an item)"),
        ("{test: [NONE, x]}", "4:25: services.web.healthcheck.test: NONE takes nothing after it"),
        ("{test: [curl, x]}", "4:25: services.web.healthcheck.test: a test list starts with CMD, CMD-SHELL or NONE, got 'curl'"),
        ("{test: [CMD, x], disable: true}", "4:35: services.web.healthcheck.disable: test and disable: true cannot be set together; remove one"),
        ("{interval: 0s}", "4:29: services.web.healthcheck.interval: must be at least 1ms"),
        ("{timeout: soon}", "4:28: services.web.healthcheck.timeout: expected a duration such as 10s, 1m30s or 500ms, got 'soon'"),
        ("{retries: 0}", "4:28: services.web.healthcheck.retries: must be 1 or more, got 0"),
        ("{disable: maybe}", "4:28: services.web.healthcheck.disable: expected true or false, got 'maybe'"),
        ("{tset: x}", "4:19: services.web.healthcheck.tset: unknown key; did you mean test?"),
        ("{cmd: x}", "4:19: services.web.healthcheck.cmd: unknown key; expected one of test, interval, timeout, retries, start_period, disable"),
        ("curl x", "4:18: services.web.healthcheck: expected a mapping (key: value), got 'curl x'"),
    ],
)
def test_healthcheck_errors(body: str, message: str) -> None:
    assert errors(service(f"healthcheck: {body}\n")) == [f"web.yaml:{message}"]


def test_healthcheck_start_interval_is_ignored() -> None:
    assert warnings(service("healthcheck: {test: x, start_interval: 1s}\n")) == [
        "web.yaml:4:28: warning: services.web.healthcheck.start_interval: ignored: the engine's default applies during start_period",
    ]


# --------------------------------------------------------------------------- other service keys


@pytest.mark.parametrize(
    ("restart", "policy"),
    [
        ("no", RestartPolicy(condition="none")),
        ('"no"', RestartPolicy(condition="none")),
        ("always", RestartPolicy(condition="any")),
        ("unless-stopped", RestartPolicy(condition="any")),
        ("on-failure", RestartPolicy(condition="on-failure")),
        ("on-failure:5", RestartPolicy(condition="on-failure", max_attempts=5)),
    ],
)
def test_restart_sets_the_restart_policy(restart: str, policy: RestartPolicy) -> None:
    spec = web(f"restart: {restart}\n")
    assert spec.restart == restart.strip('"') and spec.restart_policy == policy


def test_deploy_restart_policy_wins_over_restart() -> None:
    spec = web("restart: always\ndeploy: {restart_policy: {condition: on-failure, delay: 1s}}\n")
    assert spec.restart == "always"
    assert spec.restart_policy == RestartPolicy(condition="on-failure", delay=1.0)
    assert web("restart: 'no'\ndeploy: {restart_policy: null, mode: global, replicas: ~}\n").restart_policy == RestartPolicy("none")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("restart: on-failure:x\n", "4:14: services.web.restart: expected no, always, on-failure[:N] or unless-stopped, got 'on-failure:x'"),
        ("restart: false\n", "4:14: services.web.restart: expected no, always, on-failure[:N] or unless-stopped, got 'false'"),
        ("stop_grace_period: forever\n", "4:24: services.web.stop_grace_period: expected a duration such as 10s, 1m30s or 500ms, got 'forever'"),
        ("stop_grace_period: -1s\n", "4:24: services.web.stop_grace_period: a duration cannot be negative, got '-1s'"),
        ("stop_signal: kill -9\n", "4:18: services.web.stop_signal: expected a signal such as SIGTERM or SIGQUIT, got 'kill -9'"),
        ("working_dir: srv\n", "4:18: services.web.working_dir: expected an absolute path (starting with /), got 'srv'"),
        ("user: ''\n", "4:11: services.web.user: the user is empty; remove user: or name a user"),
        ("user: {name: x}\n", "4:11: services.web.user: expected a user name or uid[:gid], got a mapping"),
    ],
)
def test_service_value_errors(body: str, message: str) -> None:
    assert errors(service(body)) == [f"web.yaml:{message}"]


def test_simple_values() -> None:
    assert web("stop_signal: sigrtmin+3\n").stop_signal == "sigrtmin+3"
    spec = web("stop_grace_period: 30\nstop_signal: '9'\nuser: 1000\nworking_dir: /app\n")
    assert (spec.stop_grace_period, spec.stop_signal, spec.user, spec.working_dir) == (30.0, "9", "1000", "/app")


def test_null_optional_keys_are_absent() -> None:
    assert web("command:\nenvironment:\nports: ~\nhealthcheck:\ndeploy:\n  resources:\n  placement: null\n") == web()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("isolation", "process", "error"),
        ("credential_spec", "{file: my.json}", "error"),
        ("use_api_socket", "true", "error"),
        ("post_start", "[{command: ./init.sh}]", "error"),
        ("replicas", "2", "error"),
        ("container_name", "web", "warning"),
        ("tty", "true", "warning"),
    ],
)
def test_service_key_decisions(key: str, value: str, message: str) -> None:
    decision = DECISIONS["services.NAME"][key]
    text = service(f"{key}: {value}\n")
    expected = f"web.yaml:4:5: {'warning: ' if message == 'warning' else ''}services.web.{key}: {decision.note}"
    if message == "error":
        assert errors(text) == [expected]
    else:
        assert warnings(text) == [expected]


def test_unknown_keys_suggest() -> None:
    assert errors(service("enviroment: {}\nhealtcheck: {}\nfrobnicate: 1\nx-mine: ok\n")) == [
        "web.yaml:4:5: services.web.enviroment: unknown key; did you mean environment?",
        "web.yaml:5:5: services.web.healtcheck: unknown key; did you mean healthcheck?",
        "web.yaml:6:5: services.web.frobnicate: unknown key; expected one of image, command, entrypoint, environment, "
        "env_file, ports, network_mode, labels, healthcheck, stop_grace_period, stop_signal, restart, user, "
        "working_dir, deploy, scale, " + ", ".join(supported_settings()),
    ]


def supported_settings() -> list[str]:
    """The supported service keys after ``scale`` (container settings and others added later)."""
    supported = [k for k, d in DECISIONS["services.NAME"].items() if d.action == "supported"]
    return supported[supported.index("scale") + 1:]


def test_service_that_is_not_a_mapping() -> None:
    assert errors("services:\n  web:\n  api: nginx\n") == [
        "web.yaml:2:7: services.web: expected the service's settings (a mapping with at least image:)",
        "web.yaml:3:8: services.api: expected the service's settings (a mapping with at least image:)",
    ]


# --------------------------------------------------------------------------- deploy


def test_deploy_modes_and_scale() -> None:
    assert web("deploy: {mode: global}\n").mode == "global"
    assert web("deploy: {replicas: 0}\n").replicas == 0
    assert web("deploy: {replicas: '4'}\n").replicas == 4
    assert web("scale: 3\n").replicas == 3
    assert web("scale: 3\ndeploy: {replicas: 3}\n").replicas == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("deploy: {replicas: three}", "4:24: services.web.deploy.replicas: expected a whole number, got 'three'"),
        ("deploy: {replicas: -1}", "4:24: services.web.deploy.replicas: must be 0 or more, got -1"),
        ("deploy: {replicas: 1.5}", "4:24: services.web.deploy.replicas: expected a whole number, got '1.5'"),
        ("deploy: {replicas: 10001}", "4:24: services.web.deploy.replicas: must be at most 10000, got 10001"),
        ("deploy: {replicas: 99999999999999999999999999999999999}", "4:24: services.web.deploy.replicas: 99999999999999999999... is too large"),
        ("deploy: {mode: global, replicas: 2}", "4:28: services.web.deploy.replicas: replicas cannot be set with mode: global (one replica runs on every node)"),
        ("deploy: {mode: global, placement: {max_replicas_per_node: 1}}", "4:39: services.web.deploy.placement.max_replicas_per_node: max_replicas_per_node cannot be set with mode: global (one replica runs on every node)"),
        ("deploy: {mode: replicated-job}", "4:20: services.web.deploy.mode: replicated-job is not supported: use mode replicated with restart_policy condition none or on-failure"),
        ("deploy: {mode: stateful}", "4:20: services.web.deploy.mode: expected one of replicated, global, got 'stateful'"),
        ("deploy: {replica: 2}", "4:14: services.web.deploy.replica: unknown key; did you mean replicas?"),
        ("deploy: [replicas]", "4:13: services.web.deploy: expected a mapping (key: value), got a list"),
        ("scale: 2\ndeploy: {replicas: 3}", "4:5: services.web.scale: scale and deploy.replicas differ; set the count in one place (deploy.replicas)"),
        ("scale: 2\ndeploy: {mode: global}", "4:5: services.web.scale: scale cannot be set with mode: global (one replica runs on every node)"),
    ],
)
def test_deploy_errors(body: str, message: str) -> None:
    assert errors(service(body + "\n")) == [f"web.yaml:{message}"]


def test_deploy_warnings() -> None:
    body = "deploy:\n  endpoint_mode: dnsrr\n  resources:\n    limits: {pids: 10}\n    reservations: {devices: [{capabilities: [gpu]}], generic_resources: []}\n"
    assert web(body).resources == ResourceSpec()
    assert web(body).settings.pids_limit == 10  # limits.pids is the service's pids_limit
    assert warnings(service(body)) == [
        "web.yaml:5:7: warning: services.web.deploy.endpoint_mode: ignored: a service's name resolves to the mesh proxy of the caller's node (like a virtual IP); there is no DNS round robin",
        "web.yaml:8:24: warning: services.web.deploy.resources.reservations.devices: ignored: devices (GPUs) are not reserved; pin the service with a node.labels constraint",
        "web.yaml:8:58: warning: services.web.deploy.resources.reservations.generic_resources: ignored: generic resources are not reserved; pin the service with a node.labels constraint",
    ]


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ("{limits: {memory: 12q}}", "4:43: services.web.deploy.resources.limits.memory: expected a size such as 512m or 2g, got '12q'"),
        ("{limits: {cpus: lots}}", "4:41: services.web.deploy.resources.limits.cpus: expected a number of cpus such as 0.5 or 2, got 'lots'"),
        ("{limits: {cpus: '-1'}}", "4:41: services.web.deploy.resources.limits.cpus: cpus cannot be negative, got '-1'"),
        ("{limits: {memory: 512}}", "4:43: services.web.deploy.resources.limits.memory: 512 B is below Docker's minimum of 6 MiB; a size without a unit is in bytes: did you mean 512m?"),
        ("{reservations: {memory: 1m}}", "4:49: services.web.deploy.resources.reservations.memory: 1 MiB is below Docker's minimum of 6 MiB"),
        ("{limits: {memory: 1g}, reservations: {memory: 2g}}", "4:71: services.web.deploy.resources.reservations.memory: 2 GiB is more than limits.memory (1 GiB)"),
        ("{limits: {cpus: 1}, reservations: {cpus: 2}}", "4:66: services.web.deploy.resources.reservations.cpus: 2 is more than limits.cpus (1)"),
        ("{limit: {}}", "4:26: services.web.deploy.resources.limit: unknown key; did you mean limits?"),
        ("{limits: {storage: 1g}}", "4:35: services.web.deploy.resources.limits.storage: unknown key; expected one of cpus, memory, pids"),
    ],
)
def test_resource_errors(resources: str, message: str) -> None:
    assert errors(service(f"deploy: {{resources: {resources}}}\n")) == [f"web.yaml:{message}"]


def test_restart_policy_and_update_configs() -> None:
    spec = web("""\
        deploy:
          restart_policy: {condition: none, delay: 250ms, max_attempts: 2, window: 1m}
          update_config: {parallelism: 0, failure_action: continue}
          rollback_config: {delay: 3s, monitor: 1m, max_failure_ratio: 1, order: start-first}
        """)
    assert spec.restart_policy == RestartPolicy("none", 0.25, 2, 60.0)
    assert spec.update_config == UpdateConfig(parallelism=0, failure_action="continue")
    assert spec.rollback_config == UpdateConfig(delay=3.0, monitor=60.0, max_failure_ratio=1.0, order="start-first")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("restart_policy: {condition: always}", "4:42: services.web.deploy.restart_policy.condition: expected one of none, on-failure, any, got 'always'"),
        ("restart_policy: {max_attempts: -1}", "4:45: services.web.deploy.restart_policy.max_attempts: must be 0 or more, got -1"),
        ("restart_policy: {window: 1 hour}", "4:39: services.web.deploy.restart_policy.window: expected a duration such as 10s, 1m30s or 500ms, got '1 hour'"),
        ("update_config: {failure_action: explode}", "4:46: services.web.deploy.update_config.failure_action: expected one of pause, continue, rollback, got 'explode'"),
        ("rollback_config: {failure_action: rollback}", "4:48: services.web.deploy.rollback_config.failure_action: expected one of pause, continue, got 'rollback'"),
        ("update_config: {parallelism: -1}", "4:43: services.web.deploy.update_config.parallelism: must be 0 or more, got -1"),
        ("update_config: {max_failure_ratio: 1.5}", "4:49: services.web.deploy.update_config.max_failure_ratio: must be between 0 and 1, got '1.5'"),
        ("update_config: {max_failure_ratio: .nan}", "4:49: services.web.deploy.update_config.max_failure_ratio: expected a number, got '.nan'"),
        ("update_config: {order: random}", "4:37: services.web.deploy.update_config.order: expected one of stop-first, start-first, got 'random'"),
        ("update_config: {monitor: 5}", None),
    ],
)
def test_policy_errors(block: str, message: str | None) -> None:
    text = service(f"deploy: {{{block}}}\n")
    if message is None:
        assert parse(text).services[0].update_config.monitor == 5.0
    else:
        assert errors(text) == [f"web.yaml:{message}"]


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("node.labels.disk == ssd", Constraint("node.labels.disk", "==", "ssd")),
        ("node.labels.disk==ssd", Constraint("node.labels.disk", "==", "ssd")),
        ("node.hostname != app-1", Constraint("node.hostname", "!=", "app-1")),
        ("node.id==abc", Constraint("node.id", "==", "abc")),
        ("node.role == worker", Constraint("node.role", "==", "worker")),
        ("node.labels.region == eu west", Constraint("node.labels.region", "==", "eu west")),
    ],
)
def test_constraints(constraint: str, expected: Constraint) -> None:
    spec = web(f"deploy:\n  placement:\n    constraints:\n      - {constraint}\n")
    assert spec.placement.constraints == (expected,)


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ("node.platform.os == linux", "unsupported constraint key 'node.platform.os'; supported keys: node.hostname, node.id, node.role, node.labels.NAME"),
        ("engine.labels.gpu == yes", "engine labels are not read: label nodes in the inventory and use node.labels.NAME (supported keys: node.hostname, node.id, node.role, node.labels.NAME)"),
        ("node.labels. == x", "expected a label name after node.labels., got 'node.labels.'"),
        ("node.role == boss", "node.role is manager or worker, got 'boss'"),
        ("node.labels.disk = ssd", "expected a constraint such as 'node.labels.disk == ssd' (operators == and !=), got 'node.labels.disk = ssd'"),
        ("node.labels.disk ==", "expected a constraint such as 'node.labels.disk == ssd' (operators == and !=), got 'node.labels.disk =='"),
        ("{a: b}", "expected a constraint, got a mapping"),
    ],
)
def test_constraint_errors(constraint: str, message: str) -> None:
    text = service(f"deploy:\n  placement:\n    constraints:\n      - {constraint}\n")
    assert errors(text) == [f"web.yaml:7:13: services.web.deploy.placement.constraints[0]: {message}"]


def test_constraint_on_manager_role_matches_nothing() -> None:
    assert warnings(service("deploy: {placement: {constraints: [node.role == manager]}}\n")) == [
        "web.yaml:4:40: warning: services.web.deploy.placement.constraints[0]: every tui-orch node has role worker: this constraint matches no node",
    ]


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ("{preferences: [{spread: zone}]}", "4:49: services.web.deploy.placement.preferences[0]: expected to spread over node.labels.NAME, got 'zone'"),
        ("{preferences: [node.labels.zone]}", "4:40: services.web.deploy.placement.preferences[0]: expected {spread: node.labels.NAME}, got 'node.labels.zone'"),
        ("{preferences: [{spread: node.labels.a, b: 1}]}", "4:40: services.web.deploy.placement.preferences[0]: expected {spread: node.labels.NAME} (spread is the only preference)"),
        ("{max_replicas_per_node: -1}", "4:49: services.web.deploy.placement.max_replicas_per_node: must be 0 or more, got -1"),
        ("{constraints: node.id==x}", "4:39: services.web.deploy.placement.constraints: expected a list, got 'node.id==x'"),
    ],
)
def test_placement_errors(placement: str, message: str) -> None:
    assert errors(service(f"deploy: {{placement: {placement}}}\n")) == [f"web.yaml:{message}"]


# --------------------------------------------------------------------------- interpolation


def test_interpolation() -> None:
    env = {"TAG": "1.27", "EMPTY": "", "N": "3"}
    spec = web("""\
        command: [echo, "$TAG", "${TAG}", "${EMPTY:-d1}", "${EMPTY-d2}", "${GONE-d3}", "${TAG:+set}", "${GONE:+x}", "$$TAG", "${GONE:-${TAG}}"]
        deploy: {replicas: "${N}", update_config: {monitor: "${MON:-2s}"}}
        environment: {"${NOT_A_KEY}": x}
        """, environ=env)
    assert spec.command == ("echo", "1.27", "1.27", "d1", "", "d3", "set", "", "$TAG", "1.27")
    assert spec.replicas == 3 and spec.update_config.monitor == 2.0
    assert spec.environment == (("${NOT_A_KEY}", "x"),)


def test_unset_variables_warn_once() -> None:
    assert warnings(service("command: [a, $GONE, '${GONE}']\nlabels: ['a=${WHO}']\n")) == [
        "web.yaml:4:18: warning: services.web.command[1]: variable GONE is not set; using an empty string",
        "web.yaml:5:14: warning: services.web.labels[0]: variable WHO is not set; using an empty string",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("'${DB:?set DB to the database URL}'", "required variable DB is missing a value: set DB to the database URL"),
        ("'${DB?}'", "required variable DB is missing a value: set DB"),
        ("'${EMPTY:?}'", "required variable EMPTY is missing a value: set EMPTY"),
        ("'cost $5'", "invalid interpolation at '$5': write $$ for a literal $"),
        ("'a $'", "invalid interpolation at '$': write $$ for a literal $"),
        ("'${TAG'", "invalid interpolation: '${TAG' has no closing }"),
        ("'${}'", "invalid interpolation ${}: expected a variable name"),
        ("'${TAG%x}'", "invalid interpolation ${TAG%x}: expected :-, -, :?, ?, :+ or + after TAG"),
    ],
)
def test_interpolation_errors(value: str, message: str) -> None:
    assert errors(service(f"user: {value}\n"), environ={"EMPTY": "", "TAG": "x"}) == [
        f"web.yaml:4:11: services.web.user: {message}",
    ]


def test_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUI_ORCH_TEST_TAG", "9.9")
    spec = parse_manifest(service("", image="nginx:${TUI_ORCH_TEST_TAG}"), "web.yaml").services[0]
    assert spec.image == "nginx:9.9"


# --------------------------------------------------------------------------- the reference


def test_every_decided_key_is_in_the_reference() -> None:
    reference = (ROOT / "README.md").read_text()
    missing = [
        f"{where}: {key}" for where, table in DECISIONS.items() for key in table if f"`{key}`" not in reference
    ]
    assert missing == []


def test_manifest_is_a_frozen_value() -> None:
    manifest = parse(service())
    with pytest.raises(AttributeError):
        manifest.name = "x"  # type: ignore[misc]
    with pytest.raises(KeyError):
        manifest.service("nope")
    assert manifest.service("web").digest() == web().digest()


def test_project_name_is_name_or_the_folder_as_compose_normalises_it(tmp_path):
    folder = tmp_path / "My Shop.v2"
    folder.mkdir()
    (folder / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    assert load_manifest(folder / "compose.yaml").project_name == "myshopv2"
    (folder / "compose.yaml").write_text("name: shop\nservices:\n  web:\n    image: nginx\n")
    assert load_manifest(folder / "compose.yaml").project_name == "shop"
    assert parse_manifest("services:\n  web:\n    image: nginx\n").project_name == "default"
