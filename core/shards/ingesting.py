"""Checking shards before they are loaded into a project.

Everything a user can get wrong is found here, before the project is opened
for writing: a folder with no shards, a file that is not a shard or is
damaged (named), shards of two models mixed in one folder, and shards whose
model has the name of one of the project's models but not its weights or
precision (vectors of the two could not be compared).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planche.core.errors import BadParameter, PlancheError
from planche.core.models import ModelIdentity, ModelRow
from planche.core.shards.listing import shard_files
from planche.core.shards.schema import MODEL_COLUMNS, identity_from_columns, shard_schema


@dataclass(frozen=True)
class ShardSet:
    folder: Path
    files: list[str]
    identity: ModelIdentity
    rows: int


def inspect_shards(folder: Path | str) -> ShardSet:
    """The shards of `folder`, checked: readable, planche's, of one model."""
    folder = Path(folder).expanduser().absolute()
    if folder.is_file() and folder.name.endswith(".parquet"):
        files = [folder]
    elif folder.is_dir():
        files = shard_files(folder)
    else:
        raise BadParameter("SHARDS", str(folder), "a folder of shards written by embed-shards")
    if not files:
        raise BadParameter(
            "SHARDS", str(folder), "a folder holding shards (*.parquet); it holds none"
        )
    import duckdb

    con = duckdb.connect()
    try:
        for file in files:
            _check_columns(con, file)
        names = [str(f) for f in files]
        identities = con.execute(
            f"SELECT DISTINCT {', '.join(MODEL_COLUMNS)} FROM read_parquet(?) WHERE error IS NULL",
            [names],
        ).fetchall()
        row = con.execute("SELECT count(*) FROM read_parquet(?)", [names]).fetchone()
        rows = int(row[0]) if row else 0
    except duckdb.Error as exc:
        raise _damaged(con, files, exc) from None
    finally:
        con.close()
    distinct = {identity_from_columns(values) for values in identities}
    if len(distinct) > 1:
        labels = sorted(identity.label for identity in distinct)
        raise PlancheError(
            f"the shards in {folder} were made by {len(distinct)} models "
            f"({'; '.join(labels)}): ingest one model's shards at a time"
        )
    if not distinct:
        # Only failed files: their rows still name the model that would have run.
        any_row = _first_identity(files)
        distinct = {any_row}
    return ShardSet(folder, names, distinct.pop(), rows)


def _check_columns(con: Any, file: Path) -> None:
    import duckdb

    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(file)]).fetchall()
        columns = {row[0] for row in described}
    except duckdb.Error as exc:
        first = (str(exc).splitlines() or ["unreadable"])[0]
        raise PlancheError(
            f"shard {file} cannot be read ({first}): delete it and run embed-shards again, "
            "which embeds its files anew"
        ) from None
    wanted = {field.name for field in shard_schema(1)}
    missing = sorted(wanted - columns)
    if missing:
        raise PlancheError(
            f"{file} is not a planche shard: it has no column {missing[0]!r} "
            "(shards are written by `planche embed-shards`)"
        )


def _damaged(con: Any, files: list[Path], exc: Exception) -> PlancheError:
    """Which shard is damaged: read each alone (only once reading all failed)."""
    import duckdb

    for file in files:
        try:
            con.execute("SELECT count(*), max(length(thumbnail)) FROM read_parquet(?)",
                        [str(file)]).fetchall()  # fmt: skip
        except duckdb.Error as one:
            first = (str(one).splitlines() or ["unreadable"])[0]
            return PlancheError(
                f"shard {file} is damaged ({first}): delete it and run embed-shards again, "
                "which embeds its files anew"
            )
    first = (str(exc).splitlines() or ["unreadable"])[0]
    return PlancheError(f"the shards cannot be read together ({first})")


def _first_identity(files: list[Path]) -> ModelIdentity:
    import duckdb

    con = duckdb.connect()
    try:
        values = con.execute(
            f"SELECT {', '.join(MODEL_COLUMNS)} FROM read_parquet(?) LIMIT 1", [str(files[0])]
        ).fetchone()
    finally:
        con.close()
    assert values is not None
    return identity_from_columns(values)


def check_model_matches(identity: ModelIdentity, models: list[ModelRow]) -> None:
    """Refuse shards whose model shares a name with one of the project's but is
    not the same model (other weights, release or precision)."""
    for model in models:
        same_name = (model.embedder, model.name) == (identity.embedder, identity.name)
        if same_name and model.key() != identity.key():
            raise PlancheError(
                f"the shards were made by {_describe(identity)}, but the project's model of "
                f"that name is {_describe(model)}: their vectors cannot be compared. Ingest "
                "into another project, or embed the shards again with the project's model"
            )
        if same_name and model.dim != identity.dim:
            raise PlancheError(
                f"the shards' vectors have {identity.dim} dimensions, the project's "
                f"{model.label} {model.dim}"
            )


def _describe(identity: ModelIdentity) -> str:
    weights = f", weights {identity.weights_hash}" if identity.weights_hash else ""
    return f"{identity.label}{weights}"
