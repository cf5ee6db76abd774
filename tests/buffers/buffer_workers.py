"""Entry points of the child processes started by the buffer tests (importable by spawn)."""

from __future__ import annotations

import numpy as np

from magscope_app.buffers import (
    BufferOverflow,
    BufferUnderflow,
    MatrixBuffer,
    RecorderOverrun,
    VideoBuffer,
)


def seqlock_writer(instance, locks, n_frames, reader_ready, first_written, done, results) -> None:
    """Write ``n_frames`` uniform frames (pixels = frame number) as fast as consumption allows."""
    try:
        video = VideoBuffer(create=False, locks=locks, instance=instance)
    except Exception as error:  # report instead of letting the test wait for its timeout
        results.put({"error": repr(error)})
        done.set()
        first_written.set()
        return
    try:
        reader_ready.wait(60)
        frame = np.empty(video.image_shape, video.dtype)
        for number in range(n_frames):
            frame.fill(number)
            video.write_image_and_timestamp(frame, float(number), frame_number=number)
            video.read_stack_no_return()  # free the slot so the ring keeps cycling
            if number == 0:
                first_written.set()
    finally:
        done.set()
        video.close()


def seqlock_reader(instance, min_peeks, reader_ready, first_written, done, results) -> None:
    """Peek (lock-free) until the writer is done; report torn or out-of-order frames."""
    try:
        video = VideoBuffer(create=False, locks=None, instance=instance)
    except Exception as error:
        results.put({"error": repr(error)})
        reader_ready.set()
        return
    try:
        modulus = np.iinfo(video.dtype).max + 1
        reader_ready.set()
        first_written.wait(60)
        peeks = torn = backwards = 0
        last = -1
        seen = set()
        while peeks < min_peeks or not done.is_set():
            number, image = video.peek_image()
            peeks += 1
            if not (image.min() == image.max() == number % modulus):
                torn += 1
            if number < last:
                backwards += 1
            last = number
            seen.add(number)
            del image
        results.put({"peeks": peeks, "torn": torn, "backwards": backwards, "distinct": len(seen)})
    finally:
        video.close()


def claim_worker(instance, locks, n_claims, results) -> None:
    """Claim ``n_claims`` stacks (waiting on an empty ring without spinning: the parent writes
    everything before starting us), check them and report (index, frame numbers)."""
    report: list | dict = []
    try:
        video = VideoBuffer(create=False, locks=locks, instance=instance)
    except Exception as error:
        results.put({"error": repr(error)})
        return
    try:
        while len(report) < n_claims:
            claim = video.claim_stack()
            if claim is None:
                break
            ok = all(
                int(frame.min()) == int(frame.max()) == int(number)
                for frame, number in zip(claim.frames, claim.frame_numbers, strict=True)
            )
            report.append((claim.index, [int(n) for n in claim.frame_numbers], ok))
            video.release_stack(claim)
    finally:
        results.put(report)
        video.close()


def recorder_child(instance, locks, attached, done, results) -> None:
    """Follow the recorder cursor until the writer is done, copying every batch; re-attach
    after an overrun. Reports the frame numbers confirmed per attachment and how many confirmed
    copies were torn (pixels of frame n all equal n, so a torn copy shows mixed values)."""
    try:
        video = VideoBuffer(create=False, locks=locks, instance=instance)
    except Exception as error:
        results.put({"error": repr(error)})
        attached.set()
        return
    try:
        video.attach_recorder()
        attached.set()
        segments: list[list[int]] = [[]]
        torn = overruns = 0
        while True:
            finished = done.is_set()
            try:
                batch = video.recorder_batch()
                if batch is None:
                    if finished:
                        break
                    continue
                copy = batch.frames.copy()
                video.advance_recorder(batch)
            except RecorderOverrun:
                overruns += 1
                video.attach_recorder()
                segments.append([])
                continue
            for image, number in zip(copy, batch.frame_numbers, strict=True):
                torn += not (int(image.min()) == int(image.max()) == int(number))
            segments[-1].extend(int(n) for n in batch.frame_numbers)
        results.put({"segments": segments, "torn": torn, "overruns": overruns})
    finally:
        video.close()


def matrix_writer(instance, locks, writer_id, n_rows) -> None:
    """Append ``n_rows`` rows [writer_id, i, i*2] in small batches."""
    matrix = MatrixBuffer(create=False, locks=locks, name="m", instance=instance)
    try:
        for start in range(0, n_rows, 7):
            i = np.arange(start, min(start + 7, n_rows), dtype=float)
            matrix.write(np.column_stack((np.full_like(i, writer_id), i, 2 * i)))
    finally:
        matrix.close()


__all__ = ["BufferOverflow", "BufferUnderflow"]
