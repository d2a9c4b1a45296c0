"""--engine ray: the per-row stage runs on a real local Ray cluster and gives the local engine's result."""

import pytest

from ring_data.clean.corpus import make_corpus
from ring_data.clean.pipeline import CleanConfig, clean
from ring_data.io import read_rows, write_rows

ray = pytest.importorskip("ray")


@pytest.mark.slow
def test_ray_engine_matches_local_engine(tmp_path):
    rows = make_corpus(1200, seed=9)
    rows.append({"id": "img", "domain": "math", "prompt": "As shown in the figure, find the angle x."})
    write_rows(tmp_path / "in.jsonl", rows)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        config = CleanConfig(batch_rows=500)  # several batches, each split into Ray blocks
        on_ray = clean(
            tmp_path / "in.jsonl",
            tmp_path / "ray.jsonl",
            config=CleanConfig(**{**config.__dict__, "engine": "ray"}),
        )
    finally:
        ray.shutdown()
    local = clean(tmp_path / "in.jsonl", tmp_path / "local.jsonl", config=config)
    assert on_ray.stats["rejected_by_reason"] == local.stats["rejected_by_reason"]
    assert on_ray.stats["rejected_by_reason"]["filter_image"] == 1
    assert [r["id"] for r in read_rows(tmp_path / "ray.jsonl")] == [
        r["id"] for r in read_rows(tmp_path / "local.jsonl")
    ]
    assert on_ray.stats["config"]["engine"] == "ray"
