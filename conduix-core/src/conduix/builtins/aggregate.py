"""``aggregate``: windowed aggregations (tumbling, hopping, sliding, session) by processing or event time.

Open windows live in memory, and the acknowledgements of the batches whose records they hold are held with
them (:meth:`Batch.hold`): a window's output carries those acknowledgements, and the source's checkpoint
never passes a record that is only in an open window. After a crash the source replays from its checkpoint
and the same windows are rebuilt, so open windows survive a restart without a state store of their own.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

from pydantic import Field, model_validator

from conduix.builtins._aggregations import AggregationSpec, Aggregator, parse_aggregation
from conduix.builtins._fields import FieldPath, KeyFn, check_paths, durations, format_time, parse_event_time
from conduix.builtins._windows import DeliveryLog, Group, Window
from conduix.components import Batch, ComponentConfig, Context, Emit, Stage, release

__all__ = ["AggregateConfig", "AggregateStage"]

LATE = "late"


class WindowConfig(ComponentConfig):
    type: Literal["tumbling", "hopping", "sliding", "session"] = Field(
        "tumbling", description="tumbling: fixed, back to back; hopping: fixed size every 'hop' (overlapping); "
                                "sliding: per record, the records of its group in the 'size' before it; "
                                "session: records of a group closer than 'gap' together.")
    size: float | None = Field(None, gt=0, description="Window length (seconds, or '10s', '5m', '1h'); "
                                                          "not for session.")
    hop: float | None = Field(None, gt=0, description="hopping: how often a window starts.")
    gap: float | None = Field(None, gt=0, description="session: the inactivity that ends a session.")

    _durations = durations("size", "hop", "gap")

    @model_validator(mode="after")
    def _fits_type(self) -> WindowConfig:
        if self.type == "session":
            if self.gap is None or self.size is not None:
                raise ValueError("a session window takes 'gap' (the inactivity that closes it) and no 'size'")
        elif self.size is None:
            raise ValueError(f"a {self.type} window needs 'size' (e.g. size: 60s)")
        if (self.type == "hopping") != (self.hop is not None):
            raise ValueError("'hop' is for hopping windows only, and they need it (e.g. size: 60s, hop: 10s)")
        if self.gap is not None and self.type != "session":
            raise ValueError("'gap' is for session windows only")
        return self


class AggregateConfig(ComponentConfig):
    window: WindowConfig = Field(..., description="The window: {type, size, hop, gap}.")
    aggregations: dict[str, AggregationSpec] = Field(
        ..., min_length=1, description="Output field -> aggregation: {type: sum, field: .amount} or the short "
                                       "form 'sum(.amount)', 'count'.")
    group_by: list[str] = Field(default_factory=list, description="Remap paths; one output record per window "
                                                                  "and distinct combination of their values.")
    time_field: str | None = Field(None, description="Remap path of the event time (epoch number or RFC 3339); "
                                                     "unset: processing time (when the record arrives).")
    time_unit: Literal["s", "ms"] = Field("s", description="Unit of numeric event times.")
    allowed_lateness: float = Field(0.0, ge=0, description="Event time: how far behind the newest event "
                                                              "time a record may be and still count.")
    late: Literal["drop", "route"] = Field("drop", description="Records later than allowed: dropped (counted) "
                                                               "or sent to the '<id>.late' output.")
    max_groups: int = Field(100_000, ge=1, description="Open (window, group) states at most; when a record "
                                                       "needs one more, 'when_full' applies.")
    when_full: Literal["emit_oldest", "drop"] = Field(
        "emit_oldest", description="emit_oldest: close the window that ends first early (its records get "
                                   "'partial: true'); drop: drop records that need a new group (counted).")
    timestamp_format: Literal["iso", "unix"] = Field("iso", description="window_start/window_end as RFC 3339 "
                                                                        "strings or epoch seconds.")

    _durations = durations("allowed_lateness")

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("aggregations"), dict):
            data = {**data, "aggregations": {k: parse_aggregation(v) for k, v in data["aggregations"].items()}}
        return data

    @model_validator(mode="after")
    def _paths(self) -> AggregateConfig:
        check_paths(self.group_by + ([self.time_field] if self.time_field else []))
        if self.late == "route" and self.time_field is None:
            raise ValueError("late: route needs event time ('time_field'); processing time has no late records")
        return self


class AggregateStage(Stage[AggregateConfig]):
    """Aggregates records per window and group; emits one record per (window, group) when the window closes."""

    Config = AggregateConfig

    def __init__(self, config: AggregateConfig, context: Context) -> None:
        super().__init__(config, context)
        self.aggregators = [Aggregator(name, spec) for name, spec in config.aggregations.items()]
        self.key = KeyFn(config.group_by)
        self.group_names = [path.name for path in self.key.paths]
        self.time_path = FieldPath(config.time_field) if config.time_field else None
        self.windows: dict[tuple[float, float], Window] = {}
        self.sessions: dict[tuple[Any, ...], list[Window]] = {}
        self.sliding: dict[tuple[Any, ...], tuple[list[Any], list[tuple[float, list[Any]]]]] = {}
        self.sliding_held: list[tuple[float, tuple[Any, ...]]] = []
        self.max_time = -math.inf
        self.groups_open = 0
        """Open (window, group) states, bounded by ``max_groups``."""
        self.late_records = 0
        """Records that arrived after their windows closed (dropped or routed to ``late``)."""
        self.dropped_records = 0
        """Records dropped because ``max_groups`` was reached with ``when_full: drop``."""
        self.windows_emitted = 0
        self.replayed_records = 0
        """Records skipped after a restart because their windows were delivered before the crash."""
        self._released: list[Any] = []
        self._last_acks: tuple[Any, ...] = ()
        # tumbling and hopping windows by event time are emitted in order of their end, so the end of the last
        # delivered one tells replayed records of delivered windows apart after a crash
        tracks = self.time_path is not None and config.window.type in ("tumbling", "hopping")
        self.delivery = DeliveryLog(context.state_dir / "aggregate" / context.pipeline /
                                    f"{context.component_id}.json") if tracks else None

    def open(self) -> None:
        if self.delivery is not None:
            self.delivery.load()

    @classmethod
    def outputs_for(cls, config: AggregateConfig) -> list[str]:
        return [LATE] if config.late == "route" else []

    @property
    def watermark(self) -> float:
        """Windows ending at or before this time are complete (event time: newest time minus lateness)."""
        if self.time_path is None:
            return time.time()
        return self.max_time - self.config.allowed_lateness

    def _bounds(self, t: float) -> list[tuple[float, float]]:
        window = self.config.window
        assert window.size is not None
        size = window.size
        if window.type == "tumbling":
            start = math.floor(t / size) * size
            return [(start, start + size)]
        assert window.hop is not None
        hop = window.hop
        start = (math.floor((t - size) / hop) + 1) * hop
        out = []
        while start <= t:
            if start + size > t:
                out.append((start, start + size))
            start += hop
        return out

    # -- processing ---------------------------------------------------------------------------
    def process(self, batch: Batch, emit: Emit) -> None:
        if batch.acks != self._last_acks:  # a new batch: what was emitted before has been delivered
            self._release_emitted()
            self._last_acks = batch.acks
        now = time.time()
        prepared = []
        for record in batch.records:  # read everything first: a bad record fails before any state changes
            t = now if self.time_path is None else parse_event_time(self.time_path.get(record), self.config.time_unit)
            prepared.append((t, self.key.values(record), [p.get(record) for p in self.key.paths],
                             [a.value(record) for a in self.aggregators]))
        late: list[int] = []
        touched: dict[int, Window] = {}
        sliding_out: list[dict[str, Any]] = []
        kind = self.config.window.type
        for index, (t, key, raw, values) in enumerate(prepared):
            if kind == "sliding":
                if not self._add_sliding(t, key, raw, values, sliding_out):
                    late.append(index)
                continue
            targets = self._session_for(t, key) if kind == "session" else self._timed_for(t)
            if targets == []:
                self.replayed_records += 1  # replayed after a crash; its windows were delivered already
                continue
            if targets is None:
                late.append(index)
                continue
            for window in targets:
                group = window.groups.get(key)
                if group is None:
                    if not self._make_room(emit, window):
                        continue
                    group = window.groups[key] = Group(raw, [a.new() for a in self.aggregators])
                    self.groups_open += 1
                for aggregator, state, value in zip(self.aggregators, group.states, values):
                    aggregator.add(state, value)
                if id(window) not in touched:  # hold now: an early close below must carry this batch too
                    touched[id(window)] = window
                    window.held.extend(batch.hold())
        if prepared and self.time_path is not None:
            self.max_time = max(self.max_time, max(p[0] for p in prepared))
        if sliding_out:
            emit(batch.derive(sliding_out))
            self.sliding_held.append((max(p[0] for p in prepared) + (self.config.window.size or 0.0), batch.hold()))
        if late:
            self.late_records += len(late)
            if self.config.late == "route":
                emit(batch.select(late), LATE)
            else:
                self.context.logger.info("aggregate %r: dropped %d late record(s)", self.id, len(late))
        self._close_due(emit, defer=True)

    def _timed_for(self, t: float) -> list[Window] | None:
        """The open windows for time ``t``: None when it is late, empty when they were delivered before a crash."""
        watermark = self.watermark if self.time_path is not None else -math.inf
        bounds = [b for b in self._bounds(t) if b[1] > watermark]
        if not bounds:
            return None
        if self.delivery is not None and all(end <= self.delivery.replayed_before for _, end in bounds):
            return []
        out = []
        for bound in bounds:
            window = self.windows.get(bound)
            if window is None:
                window = self.windows[bound] = Window(*bound)
            out.append(window)
        return out

    def _session_for(self, t: float, key: tuple[Any, ...]) -> list[Window] | None:
        gap = self.config.window.gap
        assert gap is not None
        if self.time_path is not None and t + gap <= self.watermark:
            return None
        sessions = self.sessions.setdefault(key, [])
        hits = sorted((s for s in sessions if s.start - gap < t < s.end), key=lambda s: s.start)
        if not hits:
            window = Window(t, t + gap, key)
            sessions.append(window)
            return [window]
        keep = hits[0]
        for other in hits[1:]:  # the record bridges sessions: they become one
            mine, theirs = keep.groups.get(key), other.groups.get(key)
            if mine is not None and theirs is not None:
                for aggregator, into, later in zip(self.aggregators, mine.states, theirs.states):
                    aggregator.merge(into, later)
                self.groups_open -= 1
            elif theirs is not None:
                keep.groups[key] = theirs
            keep.end = max(keep.end, other.end)
            keep.held.extend(other.held)
            sessions.remove(other)
        keep.start = min(keep.start, t)
        keep.end = max(keep.end, t + gap)
        return [keep]

    def _add_sliding(self, t: float, key: tuple[Any, ...], raw: list[Any], values: list[Any],
                     out: list[dict[str, Any]]) -> bool:
        """Sliding: the record's own window is the ``size`` before it; False when it is late."""
        size = self.config.window.size
        assert size is not None
        if self.time_path is not None and t + size <= self.watermark:
            return False
        entry = self.sliding.get(key)
        if entry is None:
            if self.groups_open >= self.config.max_groups:
                if self.config.when_full == "drop" or not self.sliding:
                    self.dropped_records += 1
                    return True
                oldest = min(self.sliding, key=lambda k: self.sliding[k][1][-1][0])
                del self.sliding[oldest]  # forget the group that was quiet longest
                self.groups_open -= 1
            entry = self.sliding[key] = (raw, [])
            self.groups_open += 1
        entry[1].append((t, values))
        states = [a.new() for a in self.aggregators]
        for when, vals in sorted(entry[1], key=lambda e: e[0]):
            if t - size < when <= t:
                for aggregator, state, value in zip(self.aggregators, states, vals):
                    aggregator.add(state, value)
        out.append(self._record(t - size, t, raw, states))
        return True

    def _make_room(self, emit: Emit, target: Window) -> bool:
        """Before a new (window, group): at ``max_groups``, emit the window ending first early, or refuse."""
        while self.groups_open >= self.config.max_groups:
            if self.config.when_full == "drop":
                self.dropped_records += 1
                if self.dropped_records == 1 or self.dropped_records % 1000 == 0:
                    self.context.logger.warning("aggregate %r: max_groups (%d) reached; dropped %d record(s) "
                                                "that needed a new group", self.id, self.config.max_groups,
                                                self.dropped_records)
                return False
            oldest = min((w for w in self._open_windows() if w is not target and w.groups),
                         key=lambda w: (w.end, w.start), default=None)
            if oldest is None:  # this window alone has max_groups groups: the record cannot have one
                self.dropped_records += 1
                return False
            self._emit_window(oldest, emit, partial=True, defer=True)
        return True

    # -- closing --------------------------------------------------------------------------------
    def _open_windows(self) -> list[Window]:
        return [*self.windows.values(), *(s for group in self.sessions.values() for s in group)]

    def _close_due(self, emit: Emit, *, defer: bool, everything: bool = False) -> None:
        watermark = math.inf if everything else self.watermark
        for window in sorted(self._open_windows(), key=lambda w: (w.end, w.start)):
            if window.end <= watermark:
                self._emit_window(window, emit, partial=False, defer=defer)
        if not self.sliding_held:
            return
        size = self.config.window.size or 0.0
        keep = []
        for expiry, held in self.sliding_held:
            if expiry > watermark:
                keep.append((expiry, held))
            else:
                self._give_back(list(held), defer)
        self.sliding_held = keep
        for key in list(self.sliding):
            _raw, entries = self.sliding[key]
            entries[:] = [e for e in entries if e[0] + size > watermark]
            if not entries:
                del self.sliding[key]
                self.groups_open -= 1

    def _emit_window(self, window: Window, emit: Emit, *, partial: bool, defer: bool) -> None:
        if self.windows.get((window.start, window.end)) is window:
            del self.windows[(window.start, window.end)]
        elif window.key is not None:
            sessions = self.sessions.get(window.key, [])
            if window in sessions:
                sessions.remove(window)
                if not sessions:
                    del self.sessions[window.key]
        records = [self._record(window.start, window.end, group.values, group.states)
                   for group in window.groups.values()]
        if not records:  # every record for it was dropped (max_groups): nothing to emit or to wait for
            self._give_back(window.held, defer)
            return
        if partial:
            for record in records:
                record["partial"] = True
        self.groups_open -= len(window.groups)
        self.windows_emitted += 1
        acks = list(window.held)
        if self.delivery is not None:
            acks.append(self.delivery.marker(window.end))
        emit(Batch(records, acks=acks))
        self._give_back(window.held, defer)

    def _give_back(self, held: list[Any], defer: bool) -> None:
        """Release holds; inside ``process`` only once its emits were delivered (at the next batch)."""
        if defer:
            self._released.extend(held)
        else:
            release(held)

    def _record(self, start: float, end: float, values: list[Any], states: list[list[Any]]) -> dict[str, Any]:
        fmt = self.config.timestamp_format
        record: dict[str, Any] = dict(zip(self.group_names, values))
        record["window_start"] = format_time(start, fmt)
        record["window_end"] = format_time(end, fmt)
        for aggregator, state in zip(self.aggregators, states):
            record[aggregator.name] = aggregator.result(state)
        return record

    def _release_emitted(self) -> None:
        released, self._released = self._released, []
        release(released)

    def finish(self, emit: Emit) -> None:
        """End of input (or a graceful stop): every open window is emitted now."""
        self._release_emitted()
        if self.delivery is not None:
            self.delivery.discard()
        self._close_due(emit, defer=False, everything=True)
