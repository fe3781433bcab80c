"""Embedding beyond one machine: shards written on a Ray cluster, ingested into a project.

`embed_to_shards` (distributed.py) lists the files of a source (listing.py),
embeds them on Ray and writes Parquet shards (schema.py); the `ingest`
command checks them (ingesting.py) and loads them with DuckDB
(`Store.ingest_shards`). Ray is imported only when a run starts, so the base
install does not need it: it comes with the `cluster` extra.
"""

from planche.core.shards.distributed import (
    DEFAULT_SHARD_FILES,
    EmbedderOptions,
    ShardRunSummary,
    embed_to_shards,
)

__all__ = ["DEFAULT_SHARD_FILES", "EmbedderOptions", "ShardRunSummary", "embed_to_shards"]
