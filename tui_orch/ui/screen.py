"""The main screen: the fleet header, a crumb line, the views (one shown at a time), the
``:``/``/`` prompt and the footer. View switching, command mode, filters, drill down and
back live here, and marking rows; the actions on the controller are in actions.py (on the
marked rows: bulk.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from textual.binding import Binding
from textual import events
from textual.app import ComposeResult
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Input, Static

from tui_orch.ui import data
from tui_orch.ui.bulk import MarkedActions
from tui_orch.ui.describe_actions import DescribeActions
from tui_orch.ui.commands import CommandsMixin, view_command
from tui_orch.ui.keys import ACTION_VIEWS, action_name, acts_in, bindings, shows_in
from tui_orch.ui.prompt import Prompt, PromptHistory
from tui_orch.ui.table import ResourceTable
from tui_orch.ui.views import VIEWS, EventsView, NodesView, ReplicasView, View
from tui_orch.ui.widgets import FleetHeader, StableFooter

if TYPE_CHECKING:
    from textual.widget import Widget

    from tui_orch.ui.app import OrchApp


# a view switched to is shown with the rows it had, then brought up to date CATCH_UP_AFTER
# seconds after that frame, or after CATCH_UP_AT_THE_LATEST if no frame came
CATCH_UP_AFTER = 0.03
CATCH_UP_AT_THE_LATEST = 0.25
# the smallest terminal the console draws in (the header, the crumb line, a table's title and
# a few rows, the footer); in a smaller one it says so instead of drawing an empty screen
MIN_WIDTH, MIN_HEIGHT = 60, 12


@dataclass(frozen=True)
class Place:
    """Where the operator drilled down from: view, scope, filter (for esc)."""

    view: str
    scope: tuple[str, str] | None
    filter: str
    inverse: bool
    selected: str | None


class MainScreen(CommandsMixin, MarkedActions, DescribeActions, Screen[None]):
    BINDINGS = bindings(readonly=False)
    # The views are stacked in one region, all laid out: a switch only hides one and shows
    # another (no layout of the new view, no resize). The prompt lies over them, above the
    # footer: opening and closing it resizes nothing.
    DEFAULT_CSS = """
    MainScreen { layers: base prompt notice; overflow: hidden hidden; }
    MainScreen #too-small {
        layer: notice; position: absolute; width: 100%; height: 100%; content-align: center middle;
        text-align: center;
        background: $background; color: $warning;
    }
    MainScreen #crumbs { height: 1; background: $boost; color: $text-accent; padding: 0 1; }
    MainScreen #prompt { layer: prompt; dock: bottom; offset-y: -1; height: 3; border: tall $accent; }
    MainScreen #views { height: 1fr; }
    MainScreen #views > View { position: absolute; width: 100%; height: 100%; }
    """

    def __init__(self) -> None:
        super().__init__(id="main")
        self.history: list[Place] = []  # the drill downs that led here (esc goes back); a view switch clears it
        self.prompt_mode = ""  # ":" or "/" while the prompt is open
        self._crumb = ""
        self._current = f"view-{VIEWS[0].NAME}"
        self._behind: View | None = None  # shown with the rows it had: to bring up to date
        self._own_keys: dict[str, list[Binding]] | None = None  # key -> this screen's bindings (rebound)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield FleetHeader(id="header")
        yield Static(id="crumbs")
        with Container(id="views"):
            for i, cls in enumerate(VIEWS):
                view = cls()
                view.styles.visibility = "visible" if i == 0 else "hidden"
                yield view
        typed = PromptHistory(self.orch.config.state_dir)
        typed.load()
        prompt = Prompt(self.names, typed, self.orch.config.readonly, id="prompt")
        prompt.display = False  # shown and hidden by inline style: a class restyles it from the stylesheet
        prompt.cursor_blink = not self.orch.config.deterministic
        yield prompt
        yield StableFooter(lambda action: shows_in(action, self.view_name))
        notice = Static(id="too-small")
        notice.display = False
        yield notice

    def on_mount(self) -> None:
        self.current.visited = True
        self.current.table.focus()
        self.screen_layout_refresh_signal.subscribe(self, self._after_layout)
        self._say_history_problem()
        self._check_size(self.app.size.width, self.app.size.height)

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)
        self.call_after_refresh(self._show_crumb)  # the columns that fit the new width

    def _check_size(self, width: int, height: int) -> None:
        """Below MIN_WIDTH x MIN_HEIGHT the tables have no room: say so, over everything."""
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        notice = self.query_one("#too-small", Static)
        if small:
            notice.update(f"terminal too small: {width}x{height}, needs at least {MIN_WIDTH}x{MIN_HEIGHT}")
        notice.display = small

    @property
    def orch(self) -> "OrchApp":
        from tui_orch.ui.app import OrchApp

        return cast(OrchApp, self.app)

    @property
    def current(self) -> View:
        return self.query_one(f"#{self._current}", View)

    @property
    def view_name(self) -> str:
        """The shown view's NAME (without a query: check_action asks it for every binding)."""
        return self._current.removeprefix("view-")

    def view(self, name: str) -> View:
        return self.query_one(f"#view-{name}", View)

    @property
    def events_view(self) -> EventsView:
        return self.query_one(EventsView)

    # ------------------------------------------------------------------ redraw
    def refresh_all(self, header: bool = True) -> None:
        """Header (unless ``header`` is false: it changes with the state, not with the view
        shown, and the next redraw brings it), the shown view and the crumb line, from the
        controller's state."""
        if header:
            s = self.orch.reader.summary(self.orch.restarts_last_hour())
            clock = "" if self.orch.config.deterministic else time.strftime("%H:%M:%S")
            problem = self.orch.reader.problem  # an etcd state away or its lead lost: said instead
            self.query_one(FleetHeader).show(s, clock, f"{problem}" if problem else self.orch.controller.where,
                                             readonly=self.orch.config.readonly)
        self.current.refresh_view()
        self._show_crumb()

    def _show_crumb(self) -> None:
        crumb = self.current.describe()
        if crumb != self._crumb:
            self._crumb = crumb
            self.query_one("#crumbs", Static).update(crumb, layout=False)  # one line, always

    def refresh_hidden(self) -> None:
        """Bring the hidden view that waited longest up to date (one per call), so that a view
        switched to is shown at once with rows seconds old at most (see show_view)."""
        hidden = [v for v in self.query(View) if v is not self.current]
        if hidden:
            view = min(hidden, key=lambda v: v.synced_at)
            view.refresh_view()
            if not view.visited:  # the table keeps its row selected as rows come before it
                view.table.move_cursor(0, post=False)

    # ------------------------------------------------------------------ views
    def show_view(self, name: str, scope: tuple[str, str] | None = None, filter: str = "",
                  inverse: bool = False, remember: bool = False, selected: str | None = None) -> None:
        """Show a view (``remember``: a drill down, esc comes back here). Its table already
        holds rows for this scope and filter (made when it was last shown, or since by
        refresh_hidden): they are shown at once, and brought up to date right after that
        frame; otherwise (a drill down, a new filter) they are made first."""
        cur = self.current
        if remember:
            t = cur.table
            self.history.append(Place(cur.NAME, cur.scope, t.filter_text, t.inverse, t.selected_key()))
            del self.history[:-50]
        target = self.view(name)
        ready = target is not cur and target.shows(scope, filter, inverse)
        other_rows = target.scope != scope  # a drill down: its rows are others than before
        target.scope = scope
        if other_rows:  # marks are for the rows they were made on
            target.table.clear_marks()
        target.table.set_filter(filter, inverse)
        target.just_shown = True
        target.visited = True
        if target is not cur:
            # inline styles: a class would restyle the whole view from the stylesheet
            cur.styles.visibility = "hidden"
            target.styles.visibility = "visible"
            self._current = target.id or ""
            self.query_one(StableFooter).show_keys()  # the keys of the view
        if ready:
            self._show_crumb()
            self._behind = target
            self.set_timer(CATCH_UP_AT_THE_LATEST, self._catch_up)
        else:
            self._behind = None
            self.refresh_all(header=False)
        if selected:
            target.table.select_key(selected)
        elif other_rows:  # the cursor's old row number would point at another replica
            target.table.move_cursor(0)
        if not self.prompt_mode:
            target.table.focus()

    def _after_layout(self, _screen: object) -> None:
        """A frame with a new layout was written (a view switch makes one)."""
        if self._behind is not None:
            # not at once: the frame is still on its way to the terminal (the driver's writer
            # thread), and work started now would hold it up
            self.set_timer(CATCH_UP_AFTER, self._catch_up)

    def _catch_up(self) -> None:
        """The view just switched to, shown as it was, brought up to date."""
        view, self._behind = self._behind, None
        if view is not None and view is self.current:
            self.refresh_all(header=False)

    def action_view(self, name: str) -> None:
        if name != self.current.NAME or self.current.scope is not None:
            self.switch_view(name)

    def switch_view(self, name: str, filter: str = "") -> None:
        """A view chosen (1-4, ``:``): a top-level place, not a step esc goes back from (esc
        there would jump to whatever view was shown before, which the operator left)."""
        self.history.clear()
        self.show_view(name, filter=filter)

    def action_sort(self, by: int) -> None:
        """``>`` / ``<``: sort the view by the next / previous column (the view remembers it)."""
        self.current.table.step_sort(by)
        self._show_crumb()

    def action_sort_reverse(self) -> None:
        table = self.current.table
        table.set_sort(table.sort.reversed())
        self._show_crumb()

    def action_back(self) -> None:
        """esc: close the prompt, else clear the marks, else clear the filter, else go back
        from a drill down (on a view chosen with 1-4 or ``:`` it does nothing)."""
        if self.prompt_mode:
            self.close_prompt()
            return
        table = self.current.table
        if table.marked:
            table.clear_marks()
            self._show_crumb()
            return
        if table.filter_text:
            table.set_filter("")
            self.refresh_all()
            return
        if self.history:
            place = self.history.pop()
            self.show_view(place.view, place.scope, place.filter, place.inverse, selected=place.selected)

    def action_drill(self) -> None:
        """enter: node -> its replicas, service -> its replicas, replica -> its logs."""
        view = self.current
        key = view.selected_key()
        if key is None:
            return
        if isinstance(view, NodesView):
            self.show_view("replicas", ("node", key), remember=True)
        elif view.NAME == "services":
            self.show_view("replicas", ("service", key), remember=True)
        elif isinstance(view, ReplicasView):
            self.action_logs()
        elif isinstance(view, EventsView):
            ev = view.event(key)
            if ev is not None and ev.service:
                self.show_view("replicas", ("service", ev.service), remember=True)

    def action_mark(self) -> None:
        """space: mark the cursor's row (or unmark it) and go to the next, as k9s does."""
        table = self.current.table
        key = table.selected_key()
        if key is not None:
            table.toggle_mark(key)
            table.action_cursor_down()
            self._show_crumb()

    def action_mark_all(self) -> None:
        """ctrl+space: mark every row shown, or clear the marks when all are marked."""
        self.current.table.mark_all()
        self._show_crumb()

    def on_resource_table_row_highlighted(self, event: ResourceTable.RowHighlighted) -> None:
        self._show_crumb()  # the cursor's row number

    def on_resource_table_columns_scrolled(self, event: ResourceTable.ColumnsScrolled) -> None:
        self._show_crumb()  # the columns not shown

    def on_resource_table_row_selected(self, event: ResourceTable.RowSelected) -> None:
        event.stop()
        self.action_drill()

    # ------------------------------------------------------------------ prompt
    @property
    def prompt(self) -> Prompt:
        return self.query_one("#prompt", Prompt)

    def open_prompt(self, mode: str, value: str = "") -> None:
        prompt = self.prompt
        self.prompt_mode = mode
        prompt.display = True
        prompt.placeholder = ("command: nodes, svc, rs [filter], ev [service], logs [replica], scale SERVICE N, q"
                              "  (Tab completes, up recalls)" if mode == ":"
                              else "filter: text, or !text for rows without it  (up recalls)")
        prompt.border_title = mode
        prompt.begin(mode, value)
        self.query_one(StableFooter).freeze(True)
        prompt.focus()

    def key_for_prompt(self, event: events.Key, sent_to: Widget | None) -> bool:
        """Keys typed right after ':' or '/' (a terminal hands fast typing over in one read)
        arrive before the prompt has the focus, which Textual moves after the keys already
        queued: they are the prompt's. ``sent_to``: the widget the app first sent the key to;
        one sent to the table comes back up unhandled, maybe once the prompt has the focus
        (a busy console): it is the prompt's too. True when the key was given to it."""
        prompt = self.prompt
        if not self.prompt_mode or sent_to is prompt or event.key == "escape":
            return False
        self.set_focus(prompt)  # now: the keys after this one reach it the usual way
        if event.key == "enter":
            self.call_later(prompt.action_submit)
        elif event.key == "backspace":
            prompt.action_delete_left()
        elif event.key in ("tab", "shift+tab"):
            prompt.action_complete(1 if event.key == "tab" else -1)
        elif event.key in ("up", "down"):
            prompt.action_recall(-1 if event.key == "up" else 1)
        elif event.character and event.character.isprintable():
            prompt.insert_text_at_cursor(event.character)
        else:
            return False
        return True

    def close_prompt(self, focus: bool = True) -> None:
        """Hide the prompt; ``focus``: give the shown table the focus back (not when a view
        switch follows, which focuses its own table: one focus move, one restyle)."""
        prompt = self.prompt
        self.prompt_mode = ""
        prompt.display = False
        prompt.begin("")
        if focus:
            self.current.table.focus()
        self.call_after_refresh(self.query_one(StableFooter).freeze, False)

    def action_command(self) -> None:
        self.open_prompt(":")

    def action_filter(self) -> None:
        table = self.current.table
        self.open_prompt("/", ("!" if table.inverse else "") + table.filter_text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        mode, text = self.prompt_mode, event.value.strip()
        switch = mode == ":" and view_command(text)
        self.prompt.history.add(mode, text)
        self._say_history_problem()
        self.close_prompt(focus=not switch)
        if mode == "/":
            inverse = text.startswith("!")
            self.current.table.set_filter(text[1:].strip() if inverse else text, inverse)
            self.refresh_all()
        elif mode == ":" and text:
            self.run_command(text)

    def _say_history_problem(self) -> None:
        problem = self.prompt.history.take_problem()
        if problem:
            self.notify(problem, severity="warning", timeout=10)

    # ------------------------------------------------------------------ keys of the view
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A key about one kind of row acts (and shows in the footer) only in the views it
        declares (keys.Key.views); elsewhere it is disabled (None: a key hidden with False
        would make the footer rebuild on every view switch; StableFooter hides it)."""
        return True if acts_in(action, self.view_name) else None

    def on_key(self, event: events.Key) -> None:
        """A key of another view pressed here does nothing (check_action): say where it acts."""
        if self._own_keys is None:
            own = self._bindings.copy()
            own.apply_keymap(self.app._keymap)  # rebound from config.yaml, as Textual binds them
            self._own_keys = own.key_to_bindings
        found = self._own_keys.get(event.key)
        if self.prompt_mode or not found or any(acts_in(action_name(b.action), self.view_name) for b in found):
            return
        active = self.active_bindings.get(event.key)
        if active is not None and active.enabled:  # the focused widget binds it too
            return
        b = found[0]
        views = " or ".join(f"the {v} view" for v in sorted(ACTION_VIEWS.get(action_name(b.action), ())))
        self.notify(f"{self.app.get_key_display(b)} ({b.tooltip or b.description}) acts in {views}",
                    severity="warning", timeout=4)

    def action_forwards(self) -> None:
        """``:pf``: the port-forwards open (ui/forwards.py)."""
        from tui_orch.ui.forwards import ForwardsScreen

        self.app.push_screen(ForwardsScreen())

    # ------------------------------------------------------------------ help
    def action_help(self) -> None:
        """The keys of the screen, each with what it does here."""
        from tui_orch.ui.help import HelpScreen

        rows: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for active in self.active_bindings.values():
            b = active.binding
            ident = b.id or ""
            if ident in seen or not b.description:
                continue
            seen.add(ident or b.action)
            rows.append((self.app.get_key_display(b), help_description(b) + self._where(b), ident))
        for b in (b for bs in self._bindings.key_to_bindings.values() for b in bs):
            if b.id and b.id not in seen:  # shadowed by the focused widget (enter: the table's)
                seen.add(b.id)
                rows.append((self.app.get_key_display(b), help_description(b) + self._where(b), b.id))
        rows.sort(key=lambda r: (not r[2], r[2], r[1]))
        self.app.push_screen(HelpScreen(rows))

    def _where(self, b: Binding) -> str:
        """`` (in the nodes view)`` for a key of other views than the shown one."""
        views = ACTION_VIEWS.get(action_name(b.action))
        return f" (in the {' or '.join(sorted(views))} view)" if views and self.view_name not in views else ""


def help_description(b: Binding) -> str:
    """What a binding does, as help says it. Textual's screen binds ctrl+c to copy the
    selected text; with nothing selected the key falls through to the app's quit."""
    if b.key == "ctrl+c" and b.action.endswith("copy_text"):
        return "Quit (copies the selected text instead when there is one)"
    return b.tooltip or b.description  # the console's keys: the sentence (the description is the footer's word)
