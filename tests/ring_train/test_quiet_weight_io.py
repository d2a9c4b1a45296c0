"""Small checkpoints load and save without transformers' progress bars (a trainer touches them at every
stage, checkpoint and SFT epoch); big ones keep their bars, and the global setting is left as found."""

from transformers.utils import logging as hf_logging

import ring_train.models.load as load
from ring_train.models.tiny import create_tiny_policy

BARS = ("Loading weights", "Writing model shards")


def test_tiny_checkpoints_load_and_save_without_bars_big_ones_keep_them(tmp_path, capfd, monkeypatch):
    path = create_tiny_policy(tmp_path / "p", ["abc def", "12 + 34 = 46"], vocab_size=300, seed=0)
    model, tok = load.load_policy(path)
    load.save_policy(model, tok, tmp_path / "again")
    err = capfd.readouterr().err
    assert not any(bar in err for bar in BARS), err
    assert hf_logging.is_progress_bar_enabled()  # restored
    monkeypatch.setattr(load, "QUIET_BELOW_BYTES", 0)  # as if it were a large checkpoint
    load.load_policy(path)
    assert "Loading weights" in capfd.readouterr().err


def test_a_disabled_setting_stays_disabled(tmp_path):
    path = create_tiny_policy(tmp_path / "p", ["abc def"], vocab_size=300, seed=0)
    hf_logging.disable_progress_bar()
    try:
        load.load_policy(path)
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.enable_progress_bar()
