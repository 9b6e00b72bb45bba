"""``tfqnn-train`` / ``tfqnn-eval``: success paths and one-line errors with exit code 2."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tfqnn.cli.evaluate import main as eval_main
from tfqnn.cli.train import main as train_main

TINY = """
name: tiny
model: {name: cifar_resnet, options: {depth: 8, base_width: 4}}
data: {name: cifar10, batch_size: 32, max_train_examples: 64, max_eval_examples: 64}
training:
  epochs: 1
  tensorboard: false
  verbose: 0
  run_dir: RUN
"""


def _one_line_error(capsys, rc: int, *fragments: str) -> None:
    assert rc == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _config(tmp_path: Path, text: str = TINY) -> Path:
    f = tmp_path / "tiny.yaml"
    f.write_text(text.replace("RUN", str(tmp_path / "run")))
    return f


def test_train_unknown_key(tmp_path, capsys):
    f = _config(tmp_path, TINY + "  epochz: 3\n")
    _one_line_error(capsys, train_main([str(f)]), "training.epochz", str(f), "epochs")
    assert not (tmp_path / "run").exists()


def test_train_unknown_model(tmp_path, capsys):
    f = _config(tmp_path, TINY.replace("cifar_resnet", "resnet21"))
    _one_line_error(capsys, train_main([str(f)]), "'resnet21'", "resnet20")


def test_train_unknown_model_option(tmp_path, capsys):
    f = _config(tmp_path, TINY.replace("depth: 8", "dept: 8"))
    _one_line_error(capsys, train_main([str(f)]), "'dept'", "depth")


def test_train_unknown_dataset_and_bad_override(tmp_path, capsys):
    f = _config(tmp_path)
    _one_line_error(capsys, train_main([str(f), "data.name=cifar11"]), "cifar11")
    _one_line_error(capsys, train_main([str(f), "training.epochs=many"]), "training.epochs", "int")
    _one_line_error(capsys, train_main([str(tmp_path / "missing.yaml")]), "missing.yaml", "does not exist")


def test_train_missing_dataset_names_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TFQNN_DATA_DIR", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    f = _config(tmp_path, TINY.replace("cifar10", "cifar100"))
    _one_line_error(capsys, train_main([str(f)]), "cifar100", "TFQNN_DATA_DIR")


@pytest.mark.slow
def test_train_then_eval(tmp_path, capsys):
    f = _config(tmp_path)
    assert train_main([str(f)]) == 0
    model = tmp_path / "run" / "model.keras"
    assert model.exists() and "saved" in capsys.readouterr().out
    assert eval_main([str(model), "--data", "cifar10", "--max-examples", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["examples"] == 50 and 0.0 <= out["top1"] <= 1.0 and out["top5"] >= out["top1"]


def test_eval_bad_inputs(tmp_path, capsys):
    _one_line_error(capsys, eval_main([str(tmp_path / "none.keras"), "--data", "cifar10"]), "none.keras", "does not exist")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"PK\x03\x04 truncated")
    _one_line_error(capsys, eval_main([str(bad), "--data", "cifar10"]), "bad.keras")
    text = tmp_path / "notes.keras"
    text.write_text("hello")
    _one_line_error(capsys, eval_main([str(text), "--data", "cifar10"]), "notes.keras", "not a Keras model")
    _one_line_error(capsys, eval_main([str(text), "--data", "imagenet3"]), "imagenet3")
    _one_line_error(capsys, eval_main([str(text)]), "--data")


@pytest.mark.slow
def test_console_script_prints_one_line(tmp_path):
    exe = shutil.which("tfqnn-train", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip(reason="tfqnn-train console script is not installed in this environment (run make setup)")
    f = _config(tmp_path, TINY + "  epochz: 3\n")
    proc = subprocess.run([exe, str(f)], capture_output=True, text=True, env={**os.environ}, timeout=300)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "epochz" in lines[0], proc.stderr
