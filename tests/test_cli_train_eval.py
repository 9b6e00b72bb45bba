"""``tfqnn-train`` / ``tfqnn-eval`` success path (their bad-input cases are in tests/test_bad_inputs.py)."""
from __future__ import annotations

import json

import pytest
from cli_support import write_config

from tfqnn.cli.evaluate import main as eval_main
from tfqnn.cli.train import main as train_main


@pytest.mark.slow
def test_train_then_eval(tmp_path, capsys):
    assert train_main([str(write_config(tmp_path))]) == 0
    model = tmp_path / "run" / "model.keras"
    assert model.exists() and "saved" in capsys.readouterr().out
    assert eval_main([str(model), "--data", "cifar10", "--max-examples", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["examples"] == 50 and 0.0 <= out["top1"] <= 1.0 and out["top5"] >= out["top1"]
