"""The ``ray`` engine: Ray Data ``map_batches`` over an actor pool; each actor builds the matcher
once and hashes and matches whole batches. The driver (this process) records, as with ``local``.

Rows travel as plain columns (JSON text for hashes and hits, bytes for matched content): nothing
of ours is unpickled from the cluster beyond what Ray itself moves.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from index.hashes import Algorithm, Hash
from index.matcher import ListConfig, MatchHit
from scanner.pipeline import HashingConfig
from scanner.rescan.fetch import PUBLIC_ONLY, FetchPolicy
from scanner.rescan.ports import MatcherInputs
from scanner.rescan.sources import Item
from scanner.rescan.work import ItemResult, ItemWorker


class BatchWorker:
    """One per actor: Ray constructs it once and calls it once per batch."""

    def __init__(
        self,
        inputs: MatcherInputs,
        hashing: HashingConfig,
        algorithms: tuple[Algorithm, ...],
        fetching: FetchPolicy = PUBLIC_ONLY,
    ) -> None:
        self.worker = ItemWorker(inputs, hashing, algorithms, fetching)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: dict[str, list[Any]] = {
            k: [] for k in ("index", "outcome", "reason", "sha256", "hashes", "hits", "content")
        }
        for index, location, customer, url in zip(
            batch["index"], batch["location"], batch["customer_id"], batch["url"], strict=True
        ):
            result = self.worker.run(Item(int(index), str(location), str(customer), str(url)))
            rows["index"].append(result.item.index)
            rows["outcome"].append(result.outcome)
            rows["reason"].append(result.reason)
            rows["sha256"].append(result.content_sha256)
            rows["hashes"].append(json.dumps([_hash_json(h) for h in result.hashes]))
            rows["hits"].append(json.dumps([_hit_json(h) for h in result.hits]))
            rows["content"].append(result.content)
        out = {k: np.asarray(v, dtype=object) for k, v in rows.items()}
        out["index"] = np.asarray(rows["index"], dtype=np.int64)
        return out


class RayEngine:
    def __init__(
        self,
        inputs: MatcherInputs,
        hashing: HashingConfig,
        algorithms: Sequence[Algorithm],
        *,
        actors: int = 0,
        batch_size: int = 16,
        address: str | None = None,
        num_cpus: int | None = None,
        fetching: FetchPolicy = PUBLIC_ONLY,
    ) -> None:
        import ray

        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            ray.init(
                address=address,
                num_cpus=num_cpus if address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
        self.actors = actors if actors > 0 else max(1, int(cpus))
        self.batch_size = batch_size
        self.hashing = hashing
        self.algorithms = tuple(algorithms)
        self.inputs = inputs
        self.fetching = fetching

    def configs(self) -> Mapping[int, ListConfig]:
        """The lists the actors match against."""
        return {config.list_id: config for config, _ in self.inputs}

    def results(self, items: Sequence[Item]) -> Iterator[ItemResult]:
        if not items:
            return
        import ray.data

        # Ray Data logs every dataset's plan and timing at INFO (its import configures that);
        # the rescan prints its own progress.
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        context = ray.data.DataContext.get_current()
        # Results in source order: the checkpoint is a position.
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        dataset = ray.data.from_items(
            [
                {"index": i.index, "location": i.location, "customer_id": i.customer_id, "url": i.url}
                for i in items
            ],
            # Enough blocks to keep every actor busy, few enough to keep per-block overhead low.
            override_num_blocks=min(
                len(items), max(self.actors, min(len(items) // self.batch_size, self.actors * 8))
            ),
        )
        mapped = dataset.map_batches(
            BatchWorker,
            fn_constructor_kwargs={
                "inputs": self.inputs,
                "hashing": self.hashing,
                "algorithms": self.algorithms,
                "fetching": self.fetching,
            },
            compute=ray.data.ActorPoolStrategy(size=self.actors),
            batch_size=self.batch_size,
            batch_format="numpy",
            num_cpus=1,
        )
        by_index = {item.index: item for item in items}
        for row in mapped.iter_rows():
            yield ItemResult(
                by_index[int(row["index"])],
                str(row["outcome"]),
                str(row["reason"]),
                str(row["sha256"]),
                tuple(_hash_from_json(h) for h in json.loads(row["hashes"])),
                tuple(_hit_from_json(h) for h in json.loads(row["hits"])),
                bytes(row["content"]) if row["content"] is not None else b"",
            )

    def close(self) -> None:
        import ray

        if self._started_ray:
            ray.shutdown()


def _hash_json(value: Hash) -> list[Any]:
    return [str(value.algorithm), value.hex, value.quality, value.frame]


def _hash_from_json(item: list[Any]) -> Hash:
    algorithm, hex_value, quality, frame = item
    parsed = Hash.from_hex(algorithm, hex_value, quality)
    return Hash(parsed.algorithm, parsed.value, parsed.quality, int(frame))


def _hit_json(hit: MatchHit) -> list[Any]:
    return [
        hit.list_id,
        hit.list_name,
        hit.entry_id,
        str(hit.algorithm),
        hit.distance,
        hit.threshold,
        _hash_json(hit.query),
        hit.variant,
        hit.action,
    ]


def _hit_from_json(item: list[Any]) -> MatchHit:
    # The action the decision step gave the hit travels with it: the driver records it as is.
    list_id, list_name, entry_id, algorithm, distance, threshold, query, variant, action = item
    return MatchHit(
        int(list_id),
        str(list_name),
        int(entry_id),
        Algorithm(algorithm),
        int(distance),
        int(threshold),
        _hash_from_json(query),
        str(variant),
        str(action),
    )
