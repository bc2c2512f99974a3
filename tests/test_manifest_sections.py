"""Each service's part of a Compose file's text (manifest/sections.py): what the console's `y`
shows, kept with the revision at apply time."""

from __future__ import annotations

from tui_orch.manifest import parse_manifest
from tui_orch.manifest.sections import MAX_SECTION, hide_credentials, section_of

TEXT = """\
name: shop
x-common: &common
  restart: always
services:
  # the front end
  web:
    <<: *common
    image: nginx:1   # pinned
    ports: ["8080:80"]

  # the database
  db:
    image: postgres:16
    secrets: [pw]
secrets:
  pw: {environment: PW}
"""


def test_each_service_gets_its_own_lines_comments_kept_the_next_ones_left_out() -> None:
    sections = dict(parse_manifest(TEXT, "<shop>", environ={"PW": "x"}).sections)
    assert sections["web"] == ("services:\n  web:\n    <<: *common\n    image: nginx:1   # pinned\n"
                               "    ports: [\"8080:80\"]")
    assert sections["db"] == "services:\n  db:\n    image: postgres:16\n    secrets: [pw]"  # not the top-level secrets


def test_a_section_of_text_that_changed_or_is_not_yaml() -> None:
    assert section_of(TEXT, "f.yaml", "db") == "services:\n  db:\n    image: postgres:16\n    secrets: [pw]"
    assert section_of(TEXT, "f.yaml", "cache") is None
    assert section_of("services: [unclosed", "f.yaml", "web") is None
    assert section_of("services:\n  web: {image: a}\n", "f.yaml", "web") == "services:\n  web: {image: a}"


def test_a_huge_section_is_cut() -> None:
    long = "services:\n  web:\n    image: a\n    environment:\n" + "".join(
        f"      V{i}: {'x' * 60}\n" for i in range(1000))
    part = section_of(long, "f.yaml", "web")
    assert part is not None and len(part) < MAX_SECTION + 100 and part.endswith("# ... (cut: the section is longer)")


def test_credentials_in_environment_are_hidden_block_list_and_flow_style() -> None:
    text = """services:
  web:
    environment:
      DB_PASSWORD: hunter2
      "API_TOKEN": 'x y'
      MODE: prod
    secrets: [db_password]
    labels: {token: shown}
  job:
    environment:
      - API_KEY=abc
      - MODE=prod
  flow:
    environment: {SECRET_KEY: s1, MODE: prod}"""
    assert hide_credentials(text).splitlines() == [
        "services:", "  web:", "    environment:", "      DB_PASSWORD: (hidden)", '      "API_TOKEN": (hidden)',
        "      MODE: prod", "    secrets: [db_password]", "    labels: {token: shown}", "  job:", "    environment:",
        "      - API_KEY=(hidden)", "      - MODE=prod", "  flow:", "    environment: {SECRET_KEY: (hidden), MODE: prod}"]
