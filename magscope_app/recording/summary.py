"""Human-readable summary of a recording (for ``magscope-app inspect FILE``)."""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

import numpy as np

from magscope_app.recording import schema
from magscope_app.recording.reader import open_recording


def _when(t: Any) -> str:
    try:
        t = float(t)
    except (TypeError, ValueError):
        return "?"
    if math.isnan(t):
        return "-"
    return _dt.datetime.fromtimestamp(t).astimezone().isoformat(timespec="milliseconds")


def summarize(path: str | Path) -> dict[str, Any]:
    """Facts about a recording as a JSON-able dict (metadata plus counts)."""
    with open_recording(path) as r:
        meta = r.metadata
        rows = r.track_rows()
        frames = r.frames()
        out: dict[str, Any] = {
            "path": str(Path(path)),
            **{k: v for k, v in meta.items() if not isinstance(v, bytes)},
            "closed_cleanly": r.closed_cleanly,
            "track_rows": len(rows),
            "beads": [int(b) for b in np.unique(rows[:, 2])] if len(rows) else [],
            "frames": len(frames["frame"]),
            "frames_lost": int(frames["lost"][-1] - frames["lost"][0])
            if len(frames["lost"])
            else 0,
            "motors": {m: len(r.motor(m)["time"]) for m in r.motor_names()},
            "zluts": len(r.zluts()),
            "roi_changes": len(r.roi_log()["time"]),
            "rois_at_end": len(r.rois()),
            "log_entries": len(r.log()),
            "video_frames": len(r.video_index()["time"]) if r.has_video else 0,
        }
        if len(rows):
            out["first_frame"], out["last_frame"] = int(rows[0, 1]), int(rows[-1, 1])
    return out


def inspect_summary(path: str | Path) -> str:
    """Multi-line text summary of a recording (what ``magscope-app inspect FILE`` prints)."""
    s = summarize(path)
    start = float(s.get(schema.A_START_TIME, math.nan))
    stop = float(s.get(schema.A_STOP_TIME, math.nan))
    duration = f"{stop - start:.3f} s" if not math.isnan(stop) else "(still open or crashed)"
    state = "closed cleanly" if s["closed_cleanly"] else "NOT closed cleanly"
    if s.get(schema.A_RECOVERED_TIME) and not math.isnan(float(s[schema.A_RECOVERED_TIME])):
        state += f", recovered {_when(s[schema.A_RECOVERED_TIME])}"
    lines = [
        f"file:        {s['path']}",
        f"format:      {s.get(schema.A_FORMAT)} v{s.get(schema.A_FORMAT_VERSION)}, "
        f"software {s.get(schema.A_SOFTWARE_VERSION)}",
        f"instance:    {s.get(schema.A_INSTANCE)} on {s.get(schema.A_HOST)}",
        f"start:       {_when(start)}",
        f"stop:        {_when(stop)}  reason: {s.get(schema.A_STOP_REASON) or '-'}  ({duration})",
        f"state:       {state}",
        f"tracks:      {s['track_rows']} rows, {len(s['beads'])} beads"
        + (f", frames {s['first_frame']}..{s['last_frame']}" if "first_frame" in s else "")
        + (f", {s.get(schema.A_LATE_ROWS)} late rows" if s.get(schema.A_LATE_ROWS) else ""),
        f"frames:      {s['frames']} ({s['frames_lost']} lost by the camera)",
        "motors:      "
        + (", ".join(f"{m} ({n} samples)" for m, n in s["motors"].items()) or "none"),
        f"z-luts:      {s['zluts']}",
        f"rois:        {s['rois_at_end']} at the end, {s['roi_changes']} changes",
        f"log:         {s['log_entries']} entries",
        f"video:       {s.get(schema.A_VIDEO)}, {s['video_frames']} frames",
        f"checksum:    {s.get(schema.A_CHECKSUM) or 'none'}",
    ]
    return "\n".join(lines)
