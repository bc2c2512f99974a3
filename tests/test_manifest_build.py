"""Compose's build: every form read into a BuildSpec, the names a built image gets, and the
errors and warnings a user sees (pure: files only)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from tui_orch.errors import ManifestError
from tui_orch.manifest import Manifest, load_manifest
from tui_orch.manifest.build import compose_image_name, run_tag, split_image
from tui_orch.model import BuildSpec, ServiceSpec, from_dict, to_dict

ID = "sha256:3f2a9c1b7d4e" + "0" * 52


def write(folder: Path, text: str, name: str = "compose.yaml") -> Path:
    (folder / "app").mkdir(exist_ok=True)
    (folder / "app" / "Dockerfile").write_text("FROM tuiorch/busybox:1\n")
    path = folder / name
    path.write_text(dedent(text))
    return path


def load(folder: Path, text: str, environ: dict[str, str] | None = None) -> Manifest:
    return load_manifest(write(folder, text), environ=environ or {})


def problems(folder: Path, text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load(folder, text)
    return [str(p) for p in info.value.problems]


def test_short_form_is_the_context_and_the_image_is_named_project_service(tmp_path: Path) -> None:
    m = load(tmp_path, "name: shop\nservices:\n  web:\n    build: ./app\n")
    web = m.service("web")
    assert web.image == "shop-web"
    assert web.build == BuildSpec(context=str(tmp_path / "app"))


def test_without_name_the_project_is_the_folder_name_normalised(tmp_path: Path) -> None:
    folder = tmp_path / "My.Shop"
    folder.mkdir()
    m = load(folder, "services:\n  Web:\n    build: app\n")
    assert m.service("Web").image == "myshop-web"


def test_image_and_build_tag_the_build_as_image(tmp_path: Path) -> None:
    m = load(tmp_path, "services:\n  web:\n    image: registry.example.org:5000/team/app:2\n    build: app\n")
    assert m.service("web").image == "registry.example.org:5000/team/app:2"


def test_long_form_reads_every_supported_key(tmp_path: Path) -> None:
    m = load(tmp_path, """\
        services:
          web:
            build:
              context: app
              dockerfile: Dockerfile.prod
              args: [VERSION=2, FROM_ENV, UNSET]
              target: runtime
              labels: {team: shop}
              network: host
              shm_size: 64m
              extra_hosts: ["db:10.0.0.5", "cache=10.0.0.6"]
              cache_from: [app:1]
              no_cache: true
              pull: yes
        """, environ={"FROM_ENV": "e"})
    assert m.service("web").build == BuildSpec(
        context=str(tmp_path / "app"), dockerfile="Dockerfile.prod", args=(("FROM_ENV", "e"), ("VERSION", "2")),
        target="runtime", labels=(("team", "shop"),), network="host", shm_size=64 * 1024**2,
        extra_hosts=("db:10.0.0.5", "cache:10.0.0.6"), cache_from=("app:1",), no_cache=True, pull=True)


def test_args_mapping_inline_dockerfile_and_default_context(tmp_path: Path) -> None:
    m = load(tmp_path, """\
        services:
          web:
            build:
              dockerfile_inline: |
                FROM tuiorch/busybox:1
              args: {A: 1, B: null}
              extra_hosts: {db: 10.0.0.5}
        """, environ={"B": "b"})
    b = m.service("web").build
    assert b == BuildSpec(context=str(tmp_path), dockerfile_inline="FROM tuiorch/busybox:1\n",
                          args=(("A", "1"), ("B", "b")), extra_hosts=("db:10.0.0.5",))


def test_a_spec_with_a_build_reads_back_equal_and_one_without_reads_build_none() -> None:
    spec = ServiceSpec(name="web", image="a", build=BuildSpec(context="/x", args=(("A", "1"),), shm_size=5))
    assert from_dict(ServiceSpec, to_dict(spec)) == spec
    old = to_dict(ServiceSpec(name="web", image="a"))
    del old["build"]  # a spec stored before build existed
    assert from_dict(ServiceSpec, old) == ServiceSpec(name="web", image="a")


@pytest.mark.parametrize(("body", "message"), [
    ("build:\n      context: https://github.com/x/y.git",
     "services.web.build.context: a Git or URL build context ('https://github.com/x/y.git') is not supported: clone it and give the folder"),
    ("build: ./nope", "services.web.build: the build context './nope' is not a folder"),
    ("build:", "services.web.build: build is empty: give the context folder, or set image:"),
    ("build:\n      context: app\n      ssh: [default]",
     "services.web.build.ssh: not supported: the engine's build API forwards no SSH agent"),
    ("build:\n      context: app\n      secrets: [token]",
     "services.web.build.secrets: not supported: the engine's build API takes no build secrets"),
    ("build:\n      dockerfile: D\n      dockerfile_inline: FROM x",
     "4:7: services.web.build: set dockerfile or dockerfile_inline, not both"),
    ("build:\n      context: app\n      no_cache: maybe", "services.web.build.no_cache: expected true or false, got 'maybe'"),
    ("build:\n      context: app\n      extra_hosts: [nocolon]", "services.web.build.extra_hosts: expected HOST:IP"),
    ("build:\n      context: app\n      contxt: app", "services.web.build.contxt: unknown key; did you mean context?"),
    ("image: app@sha256:0123456789abcdef0123456789abcdef\n    build: app",
     "services.web.image: image 'app@sha256:0123456789abcdef0123456789abcdef' has a digest, but a build names its image"),
])
def test_errors_name_the_key_and_what_to_do(tmp_path: Path, body: str, message: str) -> None:
    found = problems(tmp_path, f"services:\n  web:\n    {body}\n")
    assert len(found) == 1 and message in found[0], found


def test_ignored_build_keys_warn(tmp_path: Path) -> None:
    m = load(tmp_path, "services:\n  web:\n    build:\n      context: app\n      tags: [x:1]\n      platforms: [linux/arm64]\n")
    assert [str(w).split(": ", 1)[1] for w in m.warnings] == [
        "warning: services.web.build.tags: ignored: the image is tagged as image: (or <project>-<service>) and by its id",
        "warning: services.web.build.platforms: ignored: the image is built for the build engine's platform",
    ]


def test_neither_image_nor_build_is_an_error(tmp_path: Path) -> None:
    assert problems(tmp_path, "services:\n  web:\n    command: [sh]\n") == [
        f"{tmp_path / 'compose.yaml'}:3:5: services.web: missing image: (the image to run, such as nginx:1.27) "
        "or build: (the folder to build it from)"]


def test_names() -> None:
    assert compose_image_name("shop", "Web") == "shop-web"
    assert split_image("registry:5000/app") == ("registry:5000/app", "latest")
    assert split_image("app:2") == ("app", "2")
    assert run_tag("shop-web", ID) == "shop-web:latest-3f2a9c1b7d4e"
    assert run_tag("registry:5000/team/app:2", ID) == "registry:5000/team/app:2-3f2a9c1b7d4e"
    assert len(run_tag("app:" + "t" * 128, ID).split(":")[1]) == 128
