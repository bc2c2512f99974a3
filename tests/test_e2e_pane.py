"""The tmux pane helper of the end-to-end tests (tests/test_e2e_console.py), without tmux: a
wait for the console's exit must not fail when the console ends between two of its looks
(the CI failure of test_two_consoles_follow_the_cli_and_a_stale_deploy_is_refused: "waiting
for the console's exit: tui-orch exited (status 0)")."""

from __future__ import annotations

from test_e2e_console import EXITED, Pane


class EndsBetweenLooks(Pane):
    """A pane whose console ends right after the first look at its history."""

    def __init__(self) -> None:  # no tmux server
        self.last = ""
        self.looks = 0

    def screen(self) -> str:
        self.last = "the console"
        return self.last

    def history(self) -> str:
        self.looks += 1
        return "the console" if self.looks == 1 else f"the console\n{EXITED}0\n"


def test_waiting_for_the_exit_sees_an_exit_that_came_between_two_looks() -> None:
    pane = EndsBetweenLooks()
    pane.wait(lambda s: pane.exit_status() is not None, "the console's exit", timeout=5)
    assert pane.exit_status() == 0
