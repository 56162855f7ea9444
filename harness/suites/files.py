"""File-backed suites: the fixed train/test splits of a published data set, from local JSONL or the HF hub.

A file-backed suite serves its data set's splits (``Suite.items``) instead of generating items. The
source is the run's ``data`` config: ``data.path``, a folder holding the suite's JSONL files
(``data.train_file``/``data.test_file`` name them, else the suite's defaults), or, when it is null,
the Hugging Face hub (``datasets.load_dataset``; offline that is an error naming ``data.path``).
Rows keep the published field names; each suite turns one row into an :class:`Item` (``parse_row``).

What the loader guarantees:
- a malformed file is a :class:`DataFileError` naming ``file:line`` (a line that is not UTF-8 or not
  JSON, a truncated last line, a row without its fields); an empty split is an error too;
- an item's id is the row's ``id``, else a hash of its question; an id twice in one split, or an
  id of a training row that is also a test id, is an error;
- training items never overlap test items: a training question equal to a test question after
  SQuAD normalisation is dropped from training (and logged), whatever the files hold.
A run draws ``n`` items of a split with its seeded RNG (all of them when the split is smaller),
kept in file order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from harness.fingerprint import hash_file
from harness.suites.base import Item, Suite
from harness.suites.scoring import normalize_answer

log = logging.getLogger(__name__)
SPLITS = ("train", "test")


class DataUnavailableError(RuntimeError):
    """The data set cannot be read from ``data.path`` or fetched from the hub."""


class DataFileError(ValueError):
    """The data set's rows are malformed; the message starts with ``file:line`` (or the hub row)."""


def text_field(row: dict[str, Any], key: str) -> str:
    """``row[key]`` as a non-empty string, or a ValueError saying what is wrong with it."""
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field {key!r} must be a non-empty string, got {value!r}")
    return value


class FileSuite(Suite):
    """A suite over a published data set's splits (see the module docstring)."""

    files: ClassVar[dict[str, str]]  # default file name of each split inside data.path
    hub: ClassVar[tuple[str, str | None]]  # (hub data set id, its config name)
    hub_splits: ClassVar[dict[str, str]]  # harness split -> hub split
    files_hint: ClassVar[str]  # where the files come from, for error messages

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._loaded: dict[tuple[str, str], list[Item]] = {}

    @abstractmethod
    def parse_row(self, row: dict[str, Any]) -> Item:
        """One published row as an item (its id is set by the loader); ValueError when malformed."""

    @classmethod
    def source_fingerprint(cls, source: Any = None) -> dict[str, str]:
        """Content hashes of the local files of both splits (``missing`` for one that is not there);
        a data set read from the hub is named by its id (its revision is not pinned)."""
        if getattr(source, "path", None) is None:
            return {cls.name: f"hub:{cls.hub[0]}"}
        return {f"{cls.name}/{split}": hash_file(file) if (file := cls.data_file(split, source)).is_file()
                else "missing" for split in SPLITS}

    @classmethod
    def data_file(cls, split: str, source: Any) -> Path:
        """The local file of ``split`` under ``source.path`` (a ``data`` config)."""
        name = getattr(source, f"{split}_file", None) or cls.files[split]
        return Path(source.path).expanduser() / name

    def items(self, split: str, n: int, rng: random.Random, source: Any = None) -> list[Item]:
        pool = self.pool(split, source)
        if n > len(pool):
            log.info("%s: %d %s items asked for, the split has %d: using all of them", self.name, n, split, len(pool))
        return [pool[i] for i in sorted(rng.sample(range(len(pool)), min(n, len(pool))))]

    def pool(self, split: str, source: Any = None) -> list[Item]:
        """Every item of ``split``; training items that are also test questions are left out."""
        if split not in SPLITS:
            raise ValueError(f"suite {self.name} has the splits {list(SPLITS)}, not {split!r}")
        test = self._load("test", source)
        if split == "test":
            return test
        test_ids = {it.id for it in test}
        test_questions = {normalize_answer(it.question) for it in test}
        train = [it for it in self._load("train", source) if normalize_answer(it.question) not in test_questions]
        dropped = len(self._load("train", source)) - len(train)
        if dropped:
            log.info("%s: %d training questions are also test questions: left out of training", self.name, dropped)
        clash = next((it for it in train if it.id in test_ids), None)
        if clash:
            raise DataFileError(f"{clash.meta['where']}: id {clash.id!r} is also the id of a test item; "
                             "ids must be unique across train and test")
        return train

    def _load(self, split: str, source: Any) -> list[Item]:
        local = getattr(source, "path", None) is not None
        key = (split, str(self.data_file(split, source)) if local else "hub")
        if key not in self._loaded:
            self._loaded[key] = self._parse(self._local_rows(split, source) if local else self._hub_rows(split),
                                            key[1])
        return self._loaded[key]

    def _parse(self, rows: Iterator[tuple[str, Any]], origin: str) -> list[Item]:
        items, first_seen = [], {}
        for where, row in rows:
            try:
                if not isinstance(row, dict):
                    raise ValueError(f"a row must be a JSON object, got {type(row).__name__}")
                item = self.parse_row(row)
            except ValueError as e:
                raise DataFileError(f"{where}: {e}") from None
            item.id = str(row["id"]) if "id" in row else f"{self.name}-{_digest(item.question)}"
            if item.id in first_seen:
                raise DataFileError(f"{where}: duplicate id {item.id!r} (first at {first_seen[item.id]})")
            first_seen[item.id] = where
            item.meta["where"] = where
            items.append(item)
        if not items:
            raise DataFileError(f"{origin}: empty split (no rows)")
        return items

    def _local_rows(self, split: str, source: Any) -> Iterator[tuple[str, Any]]:
        file = self.data_file(split, source)
        if not file.is_file():
            raise DataUnavailableError(f"{file} does not exist (data.path={source.path}, "
                                       f"data.{split}_file); {self.files_hint}")
        try:
            lines = file.read_bytes().splitlines(keepends=True)
        except OSError as e:
            raise DataUnavailableError(f"{file}: cannot be read ({e.strerror})") from None
        for lineno, raw in enumerate(lines, 1):
            try:  # (a byte-order mark at the start of the file is not part of the first row)
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise DataFileError(f"{file}:{lineno}: not UTF-8 (byte 0x{raw[e.start]:02x} at column "
                                    f"{e.start + 1}); re-encode the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                cut = lineno == len(lines) and not raw.endswith(b"\n")
                raise DataFileError(f"{file}:{lineno}: not valid JSON ({e.msg})"
                                    + ("; the file ends inside this row: truncated?" if cut else "")) from None
            yield f"{file}:{lineno}", row

    def _hub_rows(self, split: str) -> Iterator[tuple[str, Any]]:
        from datasets import load_dataset

        dataset, config = self.hub
        try:
            rows = load_dataset(dataset, config, split=self.hub_splits[split])
        except Exception as e:  # datasets raises many kinds (connection, offline mode, not found)
            raise DataUnavailableError(
                f"suite {self.name}: cannot load {dataset} ({self.hub_splits[split]}) from the Hugging Face hub "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); offline, set data.path=<a folder "
                f"with {self.files['train']} and {self.files['test']}>; {self.files_hint}") from None
        for i, row in enumerate(rows):
            yield f"{dataset}[{self.hub_splits[split]}] row {i}", row


def _digest(question: str) -> str:
    return hashlib.sha256(question.encode()).hexdigest()[:12]
