"""``OrchApp``: the console. Built from a Controller (its store, fleet and events bus) and a
UiSettings; it reads their state to draw and sends the controller commands, in workers.

The app owns no placement logic and never reaches a host except through the controller or
the fleet's nodes. It redraws the shown view once a second (rows diffed in place), tails
the events bus, and, given ``start``, brings the fleet and controller up in a worker after
the first frame (so a hanging host never delays the screen)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widget import Widget

from tui_orch.controller import Controller
from tui_orch.controller.query import Query
from tui_orch.errors import printable, printable_lines
from tui_orch.model import Event
from tui_orch.ui.collector import Collector
from tui_orch.ui.settings import DEFAULT_THEME, UiSettings
from tui_orch.ui.keys import KEYS, bindings
from tui_orch.ui.palette import ConsoleCommands
from tui_orch.ui.screen import MainScreen
from tui_orch.ui.usage import RES, SAVE_EVERY, UsageKeeper
from tui_orch.ui.widgets import LiveScreen

HOUR = 3600.0
EVENTS_AT_START = 500
KEY_QUIET = 0.6  # s: the once-a-second redraw is skipped this long after a key (its effect shows first)
MAX_PUT_OFF = 3.0  # s: ... but keys that keep coming never hold the screen back longer
WATCH_CHECK = 0.1  # s: how often a read-only console looks whether its etcd watch brought a change


class ReadonlyMainScreen(MainScreen, inherit_bindings=False):
    """The main screen without a single destructive binding."""

    BINDINGS = [*Screen.BINDINGS, *bindings(readonly=True)]


class OrchApp(App[None]):
    TITLE = "tui-orch"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, id="quit-ctrl-c")]

    def __init__(self, controller: Controller, config: UiSettings | None = None, *,
                 start: Callable[[], Awaitable[None]] | None = None):
        super().__init__()
        self.controller = controller
        self.reader: Query = controller.query()  # what the console shows is read here
        self.config = config or UiSettings()
        self._start = start
        self.restart_times: deque[float] = deque()
        self.main: MainScreen | None = None
        self._bus: asyncio.Queue[Event] | None = None
        self._last_event = 0.0
        self._pending: list[Event] = []
        self._last_key = 0.0  # time.monotonic() of the last key press
        self._put_off_since: float | None = None  # when the redraw began waiting for keys to stop
        # the screen each key was first sent to (see on_event: keys overtaken by a new screen)
        self._key_screens: weakref.WeakKeyDictionary[events.Key, Screen] = weakref.WeakKeyDictionary()
        # the widget each key was first sent to (see MainScreen.key_for_prompt, LogsScreen's)
        self._key_focus: weakref.WeakKeyDictionary[events.Key, Widget | None] = weakref.WeakKeyDictionary()
        self._warned: set[str] = set()  # node warnings already notified (each once)
        self.collector = Collector()  # full collections between keys (started with the fleet)
        self.started = asyncio.Event()  # the fleet and controller are up (at once without ``start``)
        self.usage = UsageKeeper(self.config.usage_file, self.reader.usage_now, self.now)  # for the plots
        if self.config.keys:
            self.set_keymap(dict(self.config.keys))

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification (each screen's and widget's comes here) printable: messages
        quote names, paths and errors from files and hosts (``errors.printable_lines``)."""
        super().notify(printable_lines(message), title=printable(title), severity=severity,
                       timeout=timeout, markup=markup)

    def now(self) -> float:
        return self.config.clock()

    def get_key_display_for(self, binding_id: str) -> str:
        key = self.config.keys.get(binding_id) or next((k.key for k in KEYS if k.id == binding_id), "")
        return self.get_key_display(Binding(key.split(",")[0], ""))

    # ------------------------------------------------------------------ lifecycle
    def on_mount(self) -> None:
        self._themes()
        for problem in self.config.problems:
            self.notify(problem, severity="warning", timeout=15)
        self._fill_events()
        self.main = ReadonlyMainScreen() if self.config.readonly else MainScreen()
        self.push_screen(self.main)
        self._bus = self.controller.bus.subscribe()
        self.run_worker(self._tail(), name="events-tail", group="background", exit_on_error=False)
        self.run_worker(self._keep_usage(), name="usage", group="background", exit_on_error=False)
        if self._start is None:
            self.started.set()
        if not self.config.deterministic:
            self.set_interval(self.config.refresh_interval, self.tick, name="refresh")
            if self.reader.readonly:  # a followed etcd state: show a change as soon as its watch has it
                self.set_interval(WATCH_CHECK, self._watch_check, name="watch-check")
        self.call_after_refresh(self._first_frame)

    def _watch_check(self) -> None:
        if self.reader.pending() and time.monotonic() - self._last_key >= KEY_QUIET:
            self.run_worker(self._poll_readonly(), group="poll", exclusive=True, exit_on_error=False)

    def _first_frame(self) -> None:
        """Fill the screen; once that frame is drawn, bring the fleet and controller up (their
        start, a first reconcile pass included, would otherwise delay it)."""
        self.refresh_now()
        if self._start is not None:
            start = self._start
            self.call_after_refresh(lambda: self.run_worker(self._startup(start), name="startup",
                                                            group="background", exit_on_error=False))

    def on_unmount(self) -> None:
        self.reader.forwards.close_all()  # no local port is left listening after the console
        self.collector.stop()
        self.usage.save_now()
        if self._bus is not None:
            self.controller.bus.unsubscribe(self._bus)

    async def _startup(self, start: Callable[[], Awaitable[None]]) -> None:
        try:
            await start()
        except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
            self.notify(f"could not start the controller: {exc}", severity="error", timeout=30)
        finally:
            self.started.set()
        # what exists now (modules, widgets, the fleet) lives as long as the console: keep it
        # out of the collector's full passes, which otherwise stall the screen for 0.1-0.5 s
        gc.freeze()
        self.collector.start()
        self.refresh_now()

    def _themes(self) -> None:
        from tui_orch.ui.themes import load_theme_set, pick_theme

        found = load_theme_set(self.config.themes_dir)
        for theme in found.themes:
            self.register_theme(theme)
        for problem in found.problems:
            self.notify(problem, severity="warning", timeout=15)
        names = [t.name for t in found.themes]
        if not names:
            return
        chosen, why = pick_theme(self.config.theme, names, found.aliases)
        if why:
            self.notify(why, severity="warning", timeout=15)
        self.theme = chosen if chosen in names else DEFAULT_THEME if DEFAULT_THEME in names else names[0]

    async def _keep_usage(self) -> None:
        """Read the saved hour of usage (in a thread), then sample every RES seconds and save
        every SAVE_EVERY (ui/usage.py); a problem with the file is said once."""
        problem = await asyncio.to_thread(self.usage.open)
        if problem:
            self.notify(problem, severity="warning", timeout=15)
        self.usage.record()
        self.set_interval(RES, self.usage.record, name="usage-sample")
        self.set_interval(SAVE_EVERY, self.save_usage, name="usage-save")

    async def save_usage(self) -> None:
        problem = await self.usage.save()
        if problem and problem not in self._warned:
            self._warned.add(problem)
            self.notify(problem, severity="warning", timeout=15)

    # ------------------------------------------------------------------ events
    def _fill_events(self) -> None:
        now = self.now()
        events = self.reader.events(limit=EVENTS_AT_START)
        self.restart_times.extend(e.time for e in self.reader.events(since=now - HOUR) if e.kind == "restart")
        self._pending = list(events)
        self._last_event = events[-1].time if events else 0.0

    def on_event_seen(self, ev: Event) -> None:
        self._last_event = max(self._last_event, ev.time)
        if ev.kind == "restart":
            self.restart_times.append(ev.time)
        if self.main is not None and self.main.is_mounted:
            self.main.events_view.add(ev)
        else:
            self._pending.append(ev)

    async def _tail(self) -> None:
        assert self._bus is not None
        while True:
            ev = await self._bus.get()
            self.on_event_seen(ev)

    def restarts_last_hour(self) -> int:
        cutoff = self.now() - HOUR
        while self.restart_times and self.restart_times[0] < cutoff:
            self.restart_times.popleft()
        return sum(1 for t in self.restart_times if t >= cutoff)

    # ------------------------------------------------------------------ redraw
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            if event.is_forwarded and self._overtaken(event):
                return
            if not event.is_forwarded:
                self._last_key = time.monotonic()
                self._key_screens[event] = self.screen
                self._key_focus[event] = self.focused
            # a screen with a prompt (the main screen's ':' and '/', the logs' '/') takes the
            # keys typed before its prompt had the focus
            take = getattr(self.screen, "key_for_prompt", None)
            if take is not None and take(event, self._key_focus.get(event)):
                return
        await super().on_event(event)

    def _overtaken(self, event: events.Key) -> bool:
        """Keys typed fast after one that opens a dialog (``S`` then Backspace, 5) were all sent
        to the old screen's focused widget before the first one, coming back up from it, opened
        the dialog: the dialog's bindings then saw Backspace and never saw the 5. Such a key is
        sent again, now to the screen on top, in the order typed. True when it was."""
        sent_to = self._key_screens.pop(event, None)
        if sent_to is None or sent_to is self.screen or sent_to not in self.screen_stack:
            return False
        self.post_message(events.Key(event.key, event.character))
        return True

    def tick(self) -> None:
        """The once-a-second redraw; skipped while the operator presses keys (their effect
        shows first), but never for longer than MAX_PUT_OFF."""
        now = time.monotonic()
        if now - self._last_key < KEY_QUIET:
            if self._put_off_since is None:
                self._put_off_since = now
            if now - self._put_off_since < MAX_PUT_OFF:
                return
        self._put_off_since = None
        if self.reader.readonly:
            self.run_worker(self._poll_readonly(), group="poll", exclusive=True, exit_on_error=False)
        else:
            self.refresh_now()
        # half-way to the next redraw (the two never add up): a full garbage collection when
        # one is due, else one hidden view brought up to date
        self.set_timer(self.config.refresh_interval / 2, self._half_tick, name="half-tick")

    def _half_tick(self) -> None:
        if self.collector.due():
            self.collector.maybe_collect(self._last_key)
        elif self.main is not None and self.main.is_mounted and time.monotonic() - self._last_key >= KEY_QUIET:
            self.main.refresh_hidden()

    async def _poll_readonly(self) -> None:
        """A read-only console follows the state another process writes: reread it (in a
        thread), then show the events that came meanwhile."""
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.reader.refresh)
        for ev in self.reader.events(since=self._last_event):
            if ev.time > self._last_event:
                self.on_event_seen(ev)
        self.refresh_now()

    def refresh_now(self) -> None:
        """Redraw the header and the shown view from the controller's state now."""
        main = self.main
        if main is None or not main.is_mounted:
            return
        if self._pending:
            pending, self._pending = self._pending, []
            for ev in pending:
                main.events_view.add(ev)
        self._notify_node_warnings()
        for said in self.reader.forwards.check():  # a forward whose replica or node went away
            self.notify(said, title="port-forward", severity="warning", timeout=15)
        main.refresh_all()
        if isinstance(self.screen, LiveScreen):  # the history or plot over the main screen
            self.screen.refresh_view()

    def _notify_node_warnings(self) -> None:
        """A node's connection warnings (a missing identity file: it connects with the other
        keys) as a notification, once each; the node's detail pane keeps showing them."""
        for warnings in self.reader.node_warnings().values():
            for warning in warnings:
                if warning not in self._warned:
                    self._warned.add(warning)
                    self.notify(warning, severity="warning", timeout=15)
