"""One CSV row per model step, for spreadsheets: time, stream time, then the top-k labels."""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from typing import TYPE_CHECKING

from app.logs.rotating import RotatingFile

if TYPE_CHECKING:
    from app.results import Result

FIXED_COLUMNS = ["time", "wall", "t", "source", "frame", "model_ms", "latency_ms"]


def csv_row(cells: list[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


class CsvLog:
    """Steps as rows with `k` label/score column pairs; rotated like the JSON log, a header in every file."""

    def __init__(self, path: str | os.PathLike, k: int, *, max_bytes: int | None = None, keep: int = 5) -> None:
        self.k = k
        ranked = [name for i in range(1, k + 1) for name in (f"label{i}", f"score{i}")]
        self.file = RotatingFile(path, max_bytes, keep, what="CSV file", header=csv_row([*FIXED_COLUMNS, *ranked]))

    def on_result(self, result: Result) -> None:
        # Local time without a UTC offset: the form spreadsheets recognise as a date and time.
        wall = round(result.wall, 3)
        when = datetime.fromtimestamp(wall).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        cells: list[object] = [
            when,
            f"{wall:.3f}",
            f"{result.t:.4f}",
            result.source,
            result.frame,
            f"{result.model_ms:.2f}",
            f"{result.latency_ms:.2f}",
        ]
        for i in range(self.k):  # fewer labels than k (a --threshold) leave the cells empty
            cells += [result.top[i].label, f"{result.top[i].score:.6f}"] if i < len(result.top) else ["", ""]
        self.file.write(csv_row(cells))

    def close(self) -> None:
        self.file.close()
