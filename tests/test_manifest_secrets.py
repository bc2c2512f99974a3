"""Top-level secrets/configs and the service keys that mount them (pure: parsing, digests)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tui_orch.errors import ManifestError
from tui_orch.manifest import load_manifest
from tui_orch.model import to_dict

PLANTED = "pw-7d1c0e5b-UNIQUE-never-stored"


def write(folder: Path, text: str) -> Path:
    path = folder / "compose.yaml"
    path.write_text(text)
    return path


def errors(path: Path, **environ: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifest(path, environ=environ)
    return [str(p) for p in info.value.problems]


STACK = """\
secrets:
  db_password: {file: ./db_password.txt}
  api_token: {environment: API_TOKEN}
configs:
  nginx: {file: ./nginx.conf}
  motd: {content: "hello ${WHO}"}
services:
  db:
    image: postgres:16
    secrets:
      - db_password
      - {source: api_token, target: token, uid: "999", gid: "999", mode: 0400}
    configs:
      - motd
      - {source: nginx, target: /etc/nginx/nginx.conf}
"""


def test_defaults_are_swarms_and_the_spec_holds_digests_not_values(tmp_path: Path) -> None:
    (tmp_path / "db_password.txt").write_text(PLANTED)
    (tmp_path / "nginx.conf").write_text("events {}\n")
    manifest = load_manifest(write(tmp_path, STACK), environ={"API_TOKEN": PLANTED + "-env", "WHO": "ops"})
    spec = manifest.service("db")
    password, token = spec.secrets
    assert (password.target, password.uid, password.gid, password.mode) == ("/run/secrets/db_password", "0", "0", 0o444)
    assert password.origin == "file" and password.where == str(tmp_path / "db_password.txt")
    assert password.digest == hashlib.sha256(PLANTED.encode()).hexdigest()
    assert (token.target, token.uid, token.gid, token.mode) == ("/run/secrets/token", "999", "999", 0o400)
    assert token.origin == "environment" and token.where == "API_TOKEN"
    motd, nginx = spec.configs
    assert (motd.target, motd.content) == ("/motd", "hello ops")
    assert (nginx.target, nginx.content, nginx.mode) == ("/etc/nginx/nginx.conf", None, 0o444)
    # nothing of the value in the stored form, the repr, or the manifest's repr
    for text in (json.dumps(to_dict(spec)), repr(spec), repr(manifest), str(manifest.values)):
        assert PLANTED not in text
    # the value is held in memory by digest, for this process's delivery only
    assert manifest.values[password.digest] == PLANTED.encode()


def test_a_changed_secret_or_config_changes_the_spec(tmp_path: Path) -> None:
    (tmp_path / "db_password.txt").write_text(PLANTED)
    (tmp_path / "nginx.conf").write_text("events {}\n")
    path = write(tmp_path, STACK)
    env = {"API_TOKEN": "a", "WHO": "ops"}
    first = load_manifest(path, environ=env).service("db").digest()
    assert load_manifest(path, environ=env).service("db").digest() == first
    (tmp_path / "nginx.conf").write_text("events { worker_connections 64; }\n")
    second = load_manifest(path, environ=env).service("db").digest()
    assert second != first
    assert load_manifest(path, environ={**env, "API_TOKEN": "b"}).service("db").digest() != second


def test_problems_are_reported_with_their_place(tmp_path: Path) -> None:
    path = write(tmp_path, """\
secrets:
  gone: {file: ./missing.txt}
  unset: {environment: NOT_SET_ANYWHERE}
  far: {external: true}
  both: {file: a, environment: B}
configs:
  c: {content: x}
services:
  web:
    image: x
    secrets: [nope, gone, {source: unset}]
    configs:
      - {source: c, target: /a, mode: "999"}
      - {source: c, target: /b, uid: www}
      - {source: c, target: /a}
""")
    missing = tmp_path / "missing.txt"
    assert errors(path) == [
        f"{path}:2:16: secrets.gone.file: secret file './missing.txt' not found (looked for {missing})",
        f"{path}:3:24: secrets.unset.environment: the variable NOT_SET_ANYWHERE is not set; set it in tui-orch's "
        "environment or in .env (it holds the secret)",
        f"{path}:4:9: secrets.far.external: not supported: an external secret lives in a Swarm's store, which "
        "tui-orch has no access to; give it a file: or an environment: instead",
        f"{path}:5:9: secrets.both: set only one of file: or environment: (where the secret's bytes come from)",
        f"{path}:11:15: services.web.secrets[0]: secret 'nope' is not defined under the top-level secrets:",
        f"{path}:13:9: services.web.configs[0]: permissions above 0777 (999) are not allowed",
        f"{path}:14:9: services.web.configs[1]: uid is a numeric id such as 1000, got 'www' (names cannot be "
        "looked up on the nodes)",
    ]


def test_two_mounts_at_one_target_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "configs: {c: {content: x}}\nservices:\n  web:\n    image: x\n"
                           "    configs: [c, {source: c, target: /c}]\n")
    assert errors(path) == [f"{path}:5:18: services.web.configs[1]: /c is already the target of entry 0; "
                            "give each config its own target"]
