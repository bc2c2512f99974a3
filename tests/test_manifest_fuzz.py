"""Any input ends in a Manifest or a ManifestError, never in another exception; every problem
names the file (or the env file) and a line and column >= 1. Random text and bytes go through
both YAML scanners (libyaml's and PyYAML's own).

Profiles: ``manifest-fuzz-ci`` (2000 examples a test) when CI is set to true/1/yes, else
``manifest-fuzz`` (300). They are registered here, not in conftest.py, and applied to these
tests only.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tui_orch.errors import ManifestError, Problem
from tui_orch.manifest import DECISIONS, Manifest, parse_manifest, reader
from tui_orch.manifest.envfile import parse_env
from tui_orch.manifest.interpolate import InterpolationError, interpolate
from tui_orch.model import ServiceSpec, to_dict

_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("manifest-fuzz-ci", max_examples=2000, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("manifest-fuzz", max_examples=300, deadline=None, suppress_health_check=_QUIET)
FUZZ = settings.get_profile("manifest-fuzz-ci" if _CI else "manifest-fuzz")

FILE = "fuzz.yaml"
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the test's own YAML writer: fast when libyaml is there
ENVIRON = {"TAG": "1.27", "EMPTY": "", "N": "2"}


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "app.env").write_text("A=1\nexport B='two'\nC=\"${TAG}\"\n")
    (folder / "folder.env").mkdir()
    return str(folder)


def check(data: str | bytes, base_dir: str) -> Manifest | None:
    """Parse, and hold the invariants whatever the outcome."""
    try:
        manifest = parse_manifest(data, FILE, environ=ENVIRON, base_dir=base_dir)
    except ManifestError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.severity == "error"
            _check_problem(problem, base_dir)
        return None
    assert isinstance(manifest, Manifest) and manifest.file == FILE
    for spec in manifest.services:
        assert isinstance(spec, ServiceSpec)
        json.dumps(to_dict(spec), allow_nan=False)  # plain, finite JSON data (what digest() hashes)
    for warning in manifest.warnings:
        assert warning.severity == "warning"
        _check_problem(warning, base_dir)
    return manifest


def dump(doc: Any, flow: bool | None = None) -> str:
    """YAML text of ``doc``: block style (False), mixed (None), or flow style as JSON (True)."""
    if flow:
        return json.dumps(doc, ensure_ascii=False)  # JSON is YAML, and json writes it much faster
    return yaml.dump(doc, Dumper=_DUMPER, default_flow_style=flow, allow_unicode=True, sort_keys=False, width=120)


def _check_problem(problem: Problem, base_dir: str) -> None:
    assert problem.file == FILE or problem.file.startswith(base_dir), problem
    assert problem.line >= 1 and problem.column >= 1, problem
    assert problem.message and "internal error" not in problem.message, problem
    assert str(problem).startswith(f"{problem.file}:{problem.line}:{problem.column}: ")


# --------------------------------------------------------------------------- strategies

ALL_KEYS = sorted({key for table in DECISIONS.values() for key in table} | {"<<", "x-ext"})
SAMPLES = [
    "80", "8080:80", "127.0.0.1::80/udp", "[::1]:80:80", "80-81:80", "1g", "512m", "12q", "10s", "1m30s", "0",
    "-1", "0.5", "host", "none", "service:x", "global", "replicated", "node.labels.zone == a", "node.role!=manager",
    "engine.labels.x==1", "CMD", "CMD-SHELL", "NONE", "${TAG}", "${GONE}", "$$x", "${X:-1}", "${X:?no}", "$", "${",
    "on-failure:3", "no", "always", "1e999", "nan", ".inf", "app.env", "folder.env", "missing.env", "/", "~",
    "", " ", "yes", "rollback", "start-first", "SIGTERM", "nginx:1.27", "Nginx", "a=b", "=", "99999999999999999999",
]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), st.sampled_from(SAMPLES),
)
KEYS = st.one_of(st.sampled_from(ALL_KEYS), st.text(max_size=8), st.sampled_from(SAMPLES))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=10,
)
FLAT = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(KEYS, SCALARS, max_size=3))  # cheaper


def shaped(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly values of the right shape, sometimes anything at all."""
    return st.one_of(good, good, good, FLAT)


def block(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping whose keys are any subset of ``fields`` (values of wrong types anywhere are
    the mutation test's job), plus sometimes an odd key."""
    known = st.fixed_dictionaries({}, optional=fields)
    return st.tuples(known, st.dictionaries(KEYS, FLAT, max_size=1)).map(lambda kv: {**kv[1], **kv[0]})


WORDS = st.sampled_from(SAMPLES)
DURATION = st.sampled_from(["10s", "1m30s", "500ms", "0", "5", "-1s", "soon", "1h", "${N}s"])
WHOLE = st.one_of(st.integers(-2, 20), st.sampled_from(["3", "three", "${N}", "1.5"]))
PORT = st.one_of(WORDS, st.integers(-1, 70000), st.fixed_dictionaries(
    {"target": st.integers(0, 70000)},
    optional={"published": st.one_of(st.integers(0, 70000), WORDS), "protocol": st.sampled_from(["tcp", "udp", "sctp"]),
              "host_ip": st.sampled_from(["127.0.0.1", "::1", "x"]), "mode": st.sampled_from(["host", "ingress", "x"])},
))
POLICY = block({"condition": WORDS, "delay": DURATION, "max_attempts": WHOLE, "window": DURATION})
UPDATE = block({
    "parallelism": WHOLE, "delay": DURATION, "failure_action": st.sampled_from(["pause", "continue", "rollback", "x"]),
    "monitor": DURATION, "max_failure_ratio": st.one_of(st.floats(), WORDS), "order": st.sampled_from(["start-first", "stop-first", "x"]),
})
RESOURCES = block({
    "limits": block({"cpus": st.one_of(st.floats(-1, 4), WORDS), "memory": WORDS, "pids": WHOLE}),
    "reservations": block({"cpus": st.one_of(st.floats(-1, 4), WORDS), "memory": WORDS, "devices": FLAT}),
})
DEPLOY = block({
    "mode": st.sampled_from(["replicated", "global", "global-job", "x"]), "replicas": WHOLE, "resources": RESOURCES,
    "restart_policy": POLICY, "update_config": UPDATE, "rollback_config": UPDATE, "labels": FLAT,
    "placement": block({
        "constraints": st.lists(WORDS, max_size=3),
        "preferences": st.lists(st.fixed_dictionaries({"spread": WORDS}), max_size=2),
        "max_replicas_per_node": WHOLE,
    }),
})
HEALTH = block({
    "test": st.one_of(WORDS, st.lists(WORDS, max_size=3)), "interval": DURATION, "timeout": DURATION,
    "retries": WHOLE, "start_period": DURATION, "disable": st.booleans(), "start_interval": DURATION,
})
ENV = st.one_of(st.lists(WORDS, max_size=3), st.dictionaries(st.sampled_from(["A", "B", "a=b", ""]), SCALARS, max_size=3))
SERVICE = block({
    "image": st.sampled_from(["nginx:1.27", "busybox", "Nginx", "", "${TAG}", "a b"]), "command": st.one_of(WORDS, st.lists(WORDS, max_size=3)),
    "entrypoint": st.lists(WORDS, max_size=2), "environment": ENV, "labels": ENV, "ports": st.lists(PORT, max_size=3),
    "env_file": st.one_of(WORDS, st.lists(st.one_of(WORDS, st.fixed_dictionaries({"path": WORDS}, optional={"required": st.booleans()})), max_size=2)),
    "network_mode": WORDS, "healthcheck": HEALTH, "deploy": DEPLOY, "restart": WORDS, "stop_grace_period": DURATION,
    "stop_signal": WORDS, "user": WORDS, "working_dir": st.sampled_from(["/srv", "srv"]), "scale": WHOLE,
    "build": WORDS, "depends_on": FLAT, "volumes": FLAT, "privileged": st.booleans(),
})
MANIFEST = block({
    "services": st.dictionaries(st.one_of(st.sampled_from(["web", "api", "db-1", "bad name"]), st.text(max_size=6)), shaped(SERVICE), max_size=2),
    "name": st.sampled_from(["shop", "Shop", "", "${TAG}"]), "version": SCALARS, "networks": FLAT, "x-common": FLAT,
})

TOKENS = [
    "services:", "web:", "image: x", "\n", "\n  ", "\n    ", "  ", "- ", "&a ", "*a", "&b ", "*b", "<<: *a", "<<: [*a, *b]",
    "!!python/object:os.system ", "!!python/object/apply:os.system ", "!!binary ", "!!set ", "!!str ", "!!int ", "!!float ",
    "!!timestamp ", "!custom ", "{", "}", "[", "]", ", ", ": ", ":", "'", '"', "${A}", "${A:-x}", "$$", "$", "#", "---\n",
    "...\n", "? ", "|\n", ">\n", "\t", "%YAML 1.1\n---\n", "deploy:", "replicas: ", "ports:", "80:80", "~", "\x00", "\ufeff",
    "é", "\u2028", "\r\n", "\\", "2024-99-99", "0x1F", "1e400", "-", ".nan", "=", "1:30",
]
YAMLISH = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)


# --------------------------------------------------------------------------- properties


@FUZZ
@given(doc=st.one_of(MANIFEST, VALUES), flow=st.sampled_from([None, True, True, False]))
def test_random_documents(base_dir: str, doc: Any, flow: bool | None) -> None:
    check(dump(doc, flow), base_dir)


@contextmanager
def scanner(libyaml: bool) -> Iterator[None]:
    """Use libyaml's YAML scanner (when PyYAML has it) or PyYAML's own for a while."""
    saved = reader.USE_LIBYAML
    reader.USE_LIBYAML = libyaml and saved
    try:
        yield
    finally:
        reader.USE_LIBYAML = saved


ENV_TOKENS = TOKENS + ["A=", "export ", "B", "'x'", '"y"', " #"]
RANDOM_INPUT = st.one_of(
    YAMLISH,
    st.text(max_size=200),
    st.binary(max_size=200),
    YAMLISH.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(st.sampled_from(ENV_TOKENS), max_size=20).map("".join),
)


@FUZZ
@given(data=RANDOM_INPUT, libyaml=st.booleans())
@example(data="!!python/object:os.system \u2028services:", libyaml=False)  # a tagged root: once an internal error
def test_random_text_and_bytes(base_dir: str, data: str | bytes, libyaml: bool) -> None:
    """As a manifest (through either YAML scanner), and as text: as an env file and as a
    value to interpolate."""
    with scanner(libyaml):
        check(data, base_dir)
    if isinstance(data, str):
        check_env_and_interpolation(data)


VALID: dict[str, Any] = {
    "name": "shop",
    "x-common": {"image": "busybox:1", "network_mode": "host"},
    "services": {
        "web": {
            "image": "registry.example.org/shop/web:${TAG}",
            "command": ["sh", "-c", "exec httpd -p $$PORT"],
            "entrypoint": "/tini --",
            "environment": ["LOG=info", "EMPTY"],
            "env_file": ["app.env", {"path": "gone.env", "required": False}],
            "ports": ["127.0.0.1:8080:80/udp", {"target": 9000, "published": 9001}],
            "network_mode": "host",
            "labels": {"team": "shop"},
            "healthcheck": {"test": ["CMD", "true"], "interval": "5s", "retries": 3},
            "stop_grace_period": "30s",
            "stop_signal": "SIGQUIT",
            "restart": "on-failure:3",
            "user": "1000",
            "working_dir": "/srv",
            "deploy": {
                "replicas": "${N}",
                "labels": ["tier=front"],
                "resources": {"limits": {"cpus": "1", "memory": "1g"}, "reservations": {"cpus": 0.25, "memory": "256m"}},
                "restart_policy": {"condition": "on-failure", "delay": "1s", "max_attempts": 3, "window": "1m"},
                "update_config": {"parallelism": 2, "failure_action": "rollback", "max_failure_ratio": 0.5, "order": "start-first"},
                "rollback_config": {"parallelism": 1, "failure_action": "continue"},
                "placement": {"constraints": ["node.labels.zone != c"],
                              "preferences": [{"spread": "node.labels.zone"}], "max_replicas_per_node": 2},
            },
        },
        "agent": {"image": "busybox:1", "deploy": {"mode": "global"}, "healthcheck": {"disable": True}},
    },
}


def test_the_valid_manifest_is_valid(base_dir: str) -> None:
    manifest = check(dump(VALID), base_dir)
    assert manifest is not None and manifest.names == ("web", "agent")
    # its one warning: network_mode host keeps the published ports on the node (mode host)
    assert [w.path for w in manifest.warnings] == ["services.web.ports"]
    assert manifest.service("web").replicas == 2 and dict(manifest.service("web").environment)["C"] == "1.27"


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path below ``node`` (keys and indices)."""
    out: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        out.append(prefix + (key,))
        out.extend(_paths(child, prefix + (key,)))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def _mutate(doc: dict[str, Any], data: st.DataObject) -> None:
    paths = _paths(doc)
    op = data.draw(st.sampled_from(["delete", "replace", "insert"]), label="op")
    if op == "insert":
        containers = [()] + [p for p in paths if isinstance(_parent(doc, p)[p[-1]], (dict, list))]
        path = data.draw(st.sampled_from(containers), label="where")
        target = _parent(doc, path + (None,))
        value = data.draw(FLAT, label="value")
        if isinstance(target, dict):
            target[data.draw(KEYS, label="key")] = value
        else:
            target.insert(data.draw(st.integers(0, len(target)), label="index"), value)
        return
    path = data.draw(st.sampled_from(paths), label="path")
    parent = _parent(doc, path)
    if op == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(FLAT, label="value")


@FUZZ
@given(data=st.data())
def test_mutated_manifests(base_dir: str, data: st.DataObject) -> None:
    doc = copy.deepcopy(VALID)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        _mutate(doc, data)
    check(dump(doc, data.draw(st.sampled_from([None, True, True, False]), label="flow")), base_dir)


def check_env_and_interpolation(text: str) -> None:
    parsed = parse_env(text, ENVIRON.get)
    assert all(line >= 1 and column >= 1 for line, column, _ in parsed.errors)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.values.items())
    try:
        result = interpolate(text, ENVIRON.get)
    except InterpolationError as exc:
        assert str(exc)
    else:
        assert isinstance(result.text, str) and all(isinstance(name, str) for name in result.unset)


def test_deep_and_wide_inputs_are_refused_quickly(base_dir: str) -> None:
    assert check("[" * 10_000 + "]" * 10_000, base_dir) is None
    assert check("a:\n" + "".join("  " * i + "- \n" for i in range(1, 200)), base_dir) is None
    assert check("services: {web: {image: '" + "a" * 100_000 + "'}}", base_dir) is None
    assert check(Path(__file__).read_bytes(), base_dir) is None
