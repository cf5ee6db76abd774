"""HDF5 recording library: writer, reader, checksum verification, crash recovery, summaries.

In-process API (the recorder worker process and the daemon build on it)::

    from magscope_app.recording import RecordingWriter, open_recording, verify, recover

    with RecordingWriter(path, instance="scope1", motors=["magnet_z", "focus"]) as w:
        w.append_tracks(rows)          # (n, 9) float64, any frame order
        w.append_frames(frame_rows)    # (n, 3): time, frame, lost
        w.append_motor("focus", rows)  # (n, 4): time, position, target, moving
    with open_recording(path) as r:
        r.tracks(bead_id)              # dict of column -> (n,) arrays, frame order

File layout: see ``schema``. Stop reasons: ``StopReason``.
"""

from magscope_app.recording.checksum import VerifyResult, verify
from magscope_app.recording.errors import RecordingError
from magscope_app.recording.reader import RecordingReader, ZLut, open_recording
from magscope_app.recording.recovery import needs_recovery, recover
from magscope_app.recording.schema import FORMAT_VERSION, StopReason
from magscope_app.recording.summary import inspect_summary, summarize
from magscope_app.recording.writer import RecordingWriter, VideoSpec

__all__ = [
    "FORMAT_VERSION",
    "RecordingError",
    "RecordingReader",
    "RecordingWriter",
    "StopReason",
    "VerifyResult",
    "VideoSpec",
    "ZLut",
    "inspect_summary",
    "needs_recovery",
    "open_recording",
    "recover",
    "summarize",
    "verify",
]
