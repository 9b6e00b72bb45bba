"""Bad-input suite: every CLI and the Python API refuse bad input with one line naming the thing.

Each CLI case calls the console script's ``main(argv)`` in-process and checks: exit code 2, exactly
one ``error: ...`` line on stderr that names the offending thing (file, key, model, op, dataset),
and nothing written or changed on disk. Three cases run the real console scripts in a subprocess
to prove that the installed entry points behave the same (no traceback). The messages users meet
are listed in README.md ("Errors you will meet").
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cli_support import one_error_line, refused, write_config

import tfqnn
from converters.cli import bench_main, convert_main
from tfqnn.cli.evaluate import main as eval_main
from tfqnn.cli.score import main as score_main
from tfqnn.cli.train import main as train_main
from tfqnn.data import packed
from tfqnn.errors import ConfigError, ModelFileError, OutputPathError, TfqnnError, UnknownModelError
from tfqnn.keras import keras

SHAPE = (8, 8, 3)
REAL_CIFAR10 = packed.locate("cifar10")  # before any test points TFQNN_DATA_DIR elsewhere


# --------------------------------------------------------------------------- shared files
@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A small model, its float flatbuffer, an LCE flatbuffer and assorted broken files (read-only inputs)."""
    import larq as lq

    from converters.tflite import convert

    root = tmp_path_factory.mktemp("inputs")
    model = tfqnn.build_model("cifar_resnet", depth=8, base_width=4, num_classes=5, input_shape=SHAPE)
    model.save(root / "model.keras")
    (root / "model.tflite").write_bytes(convert(model, "float"))

    inp = keras.Input(SHAPE)
    x = lq.layers.QuantConv2D(32, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False)(inp)
    binary = keras.Model(inp, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    lce = convert(binary, "lce")
    assert b"LceBconv2d" in lce
    (root / "lce.tflite").write_bytes(lce)
    (root / "mystery.tflite").write_bytes(lce.replace(b"LceBconv2d", b"LceMystery"))

    (root / "cut.keras").write_bytes((root / "model.keras").read_bytes()[:300])
    (root / "notes.keras").write_text("just some text")
    with zipfile.ZipFile(root / "other.keras", "w") as zf:
        zf.writestr("readme.txt", "a zip archive, but not a Keras model")
    (root / "notes.tflite").write_text("not a flatbuffer")
    (root / "cut.tflite").write_bytes((root / "model.tflite").read_bytes()[:200])
    (root / "empty_folder").mkdir()
    names = {"model": "model.keras", "model_fb": "model.tflite", "lce": "lce.tflite", "mystery": "mystery.tflite",
             "cut": "cut.keras", "notes": "notes.keras", "other": "other.keras", "notes_fb": "notes.tflite",
             "cut_fb": "cut.tflite", "empty_folder": "empty_folder", "missing_keras": "missing.keras",
             "missing_fb": "gone.tflite"}
    return {key: root / name for key, name in names.items()}


# --------------------------------------------------------------------------- tfqnn-train
# id → (text replacements in TINY_RUN, text appended, overrides, what the message must name)
TRAIN_CASES: dict[str, tuple[dict[str, str], str, list[str], tuple[str, ...]]] = {
    "unknown-model": ({"cifar_resnet": "resnet21"}, "", [], ("'resnet21'", "resnet20")),
    "unknown-model-option": ({"depth: 8": "dept: 8"}, "", [], ("'dept'", "depth")),
    "misspelt-key": ({}, "  epochz: 3\n", [], ("training.epochz", "CONFIG", "epochs")),
    "misspelt-section": ({"name: tiny\n": "name: tiny\nmodle: {}\n"}, "", [], ("'modle'", "model")),
    "mistyped-value": ({}, "", ["training.epochs=ten"], ("training.epochs", "int")),
    "mistyped-nested-value": ({"batch_size: 16": "batch_size: lots"}, "", [], ("data.batch_size",)),
    "mistyped-section": ({}, "", ["training.optimizer=[sgd]"], ("training.optimizer",)),
    "zero-batch-size": ({}, "", ["data.batch_size=0"], ("data.batch_size", "> 0")),
    "negative-epochs": ({}, "", ["training.epochs=-1"], ("training.epochs", "> 0")),
    "negative-learning-rate": ({}, "", ["training.optimizer.learning_rate=-1e-3"], ("training.optimizer.learning_rate",)),
    "unknown-dataset": ({}, "", ["data.name=cifar11"], ("'cifar11'", "cifar10")),
    "unknown-split": ({}, "", ["data.train_split=validation"], ("'validation'", "train")),
    "unknown-hawq-scheme": ({"cifar_resnet, options: {depth: 8, base_width: 4}": "hawq_cifar_resnet, options: {depth: 8, bit_config: uniform3}"},
                            "", [], ("'uniform3'", "uniform4")),
    "unknown-optimizer": ({}, "", ["training.optimizer.name=lion"], ("'lion'",)),
    "unknown-schedule": ({}, "", ["training.schedule.name=triangle"], ("triangle",)),
    "unknown-callback": ({}, "", ["training.callbacks=[{name: stop_on_nann}]"], ("stop_on_nann",)),
    "override-without-value": ({}, "", ["training.epochs"], ("training.epochs", "key.sub=value")),
    "invalid-yaml": ({"training:\n": "training: [1,\n"}, "", [], ("CONFIG", "YAML")),
}


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_train_refuses_bad_config(tmp_path, capfd, case):
    replace, append, overrides, names = TRAIN_CASES[case]
    config = write_config(tmp_path, replace, append)
    names = tuple(str(config) if n == "CONFIG" else n for n in names)
    refused(capfd, tmp_path, train_main, [config, *overrides], *names)
    assert not (tmp_path / "run").exists()


def test_train_run_dir_below_a_file(tmp_path, capfd):
    (tmp_path / "afile").write_text("a regular file")
    refused(capfd, tmp_path, train_main, [write_config(tmp_path), "--run-dir", tmp_path / "afile" / "run"],
            "afile/run", "Not a directory")


def test_train_missing_config_file(tmp_path, capfd):
    refused(capfd, tmp_path, train_main, [tmp_path / "missing.yaml"], "missing.yaml", "does not exist")


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """An empty ``$TFQNN_DATA_DIR`` (no tfds folder, no decode cache) for the missing/corrupt data cases."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("TFQNN_DATA_DIR", str(folder))
    monkeypatch.setenv("TFQNN_CACHE_DIR", "off")
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    packed.clear_memory_cache()
    yield folder
    packed.clear_memory_cache()


def test_train_dataset_not_found(tmp_path, capfd, data_dir):
    config = write_config(tmp_path)
    refused(capfd, tmp_path, train_main, [config], "'cifar10'", "TFQNN_DATA_DIR")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_train_corrupt_npz(tmp_path, capfd, data_dir, damage):
    npz = data_dir / "cifar10_jpeg.npz"
    if damage == "garbage":
        npz.write_bytes(b"this is not an npz archive" * 10)
    else:  # a real archive cut short (its first 64 KiB)
        if REAL_CIFAR10 is None:
            pytest.skip(reason="packed CIFAR-10 not found (set TFQNN_DATA_DIR to the folder of cifar10_jpeg.npz)")
        with open(REAL_CIFAR10, "rb") as fh:
            npz.write_bytes(fh.read(1 << 16))
    config = write_config(tmp_path)
    refused(capfd, tmp_path, train_main, [config], str(npz))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_train_nan_loss_writes_no_model(tmp_path, capfd):
    config = write_config(tmp_path)
    rc = train_main([str(config), "training.optimizer.learning_rate=1e30", "training.schedule.name=constant",
                     "training.epochs=2"])
    one_error_line(capfd, rc, "NaN", "'tiny'", "training.optimizer.learning_rate")
    run = tmp_path / "run"
    assert not (run / "model.keras").exists()
    assert not list(run.rglob("*.tmp*")), "temporary files left behind"
    assert not (run / "checkpoints").exists() or not any((run / "checkpoints").iterdir()), "a diverged checkpoint was kept"


# --------------------------------------------------------------------------- bad model / flatbuffer files
CLIS = {  # CLI → (main, the other arguments)
    "eval": (eval_main, ["--data", "cifar10"]),
    "score": (score_main, []),
    "convert": (convert_main, ["--target", "lce"]),
    "bench": (bench_main, ["--runs", "1"]),
}
FILE_CASES = {  # id → (CLI, file key of the ``files`` fixture, what the message must say besides the file name)
    "eval-missing": ("eval", "missing_keras", "does not exist"),
    "eval-truncated": ("eval", "cut", "corrupt"),
    "eval-text": ("eval", "notes", "not a Keras model"),
    "eval-zip-not-keras": ("eval", "other", "no config.json"),
    "eval-folder-not-savedmodel": ("eval", "empty_folder", "not a SavedModel"),
    "score-flatbuffer": ("score", "model_fb", "not a Keras model"),
    "convert-missing": ("convert", "missing_keras", "does not exist"),
    "convert-truncated": ("convert", "cut", "corrupt"),
    "convert-text": ("convert", "notes", "not a Keras model"),
    "bench-missing": ("bench", "missing_fb", "does not exist"),
    "bench-text": ("bench", "notes_fb", "not a TFLite flatbuffer"),
    "bench-truncated": ("bench", "cut_fb", "truncated or corrupt"),
    "bench-keras-file": ("bench", "model", "not a TFLite flatbuffer"),
    "bench-unknown-custom-op": ("bench", "mystery", "LceMystery"),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_cli_refuses_bad_file(files, capfd, case):
    cli, key, message = FILE_CASES[case]
    main, args = CLIS[cli]
    refused(capfd, files["model"].parent, main, [files[key], *args], files[key].name, message)


def test_eval_unknown_dataset_is_named_before_loading(files, capfd):
    refused(capfd, files["model"].parent, eval_main, [files["notes"], "--data", "imagenet3"], "'imagenet3'")


def test_eval_needs_data_option(files, capfd):
    refused(capfd, files["model"].parent, eval_main, [files["model"]], "--data")


# --------------------------------------------------------------------------- tfqnn-convert
def test_convert_unknown_target(files, capfd):
    refused(capfd, files["model"].parent, convert_main, [files["model"], "--target", "fp4"], "'fp4'", "float", "lce")


def test_convert_keeps_an_existing_output(files, tmp_path, capfd):
    out = tmp_path / "taken.tflite"
    out.write_bytes(b"keep me")
    refused(capfd, tmp_path, convert_main, [files["model"], "--target", "float", "-o", out], str(out), "--overwrite")
    assert convert_main([str(files["model"]), "--target", "float", "-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes()[4:8] == b"TFL3" and sorted(p.name for p in tmp_path.iterdir()) == ["taken.tflite"]
    capfd.readouterr()


def _unwritable_folder(tmp_path: Path) -> Path:
    """A read-only folder; for root (who may write anyway) ``/proc``, where no file can be created."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        return folder
    (folder / "probe").unlink()
    if Path("/proc").is_dir():
        return Path("/proc")
    pytest.skip(reason="no folder this user cannot write to (running as root without /proc)")


@pytest.mark.parametrize("where", ["below-a-file", "is-a-folder", "read-only-folder"])
def test_convert_unwritable_output(files, tmp_path, capfd, where):
    blocker = tmp_path / "afile"
    blocker.write_text("a regular file")
    (tmp_path / "out.tflite").mkdir()
    out = {"below-a-file": blocker / "out.tflite", "is-a-folder": tmp_path / "out.tflite",
           "read-only-folder": _unwritable_folder(tmp_path) / "out.tflite"}[where]
    try:
        refused(capfd, tmp_path, convert_main, [files["model"], "--target", "float", "-o", out],
                {"below-a-file": "afile", "is-a-folder": str(out), "read-only-folder": str(out.parent)}[where])
    finally:
        if (tmp_path / "read_only").exists():
            (tmp_path / "read_only").chmod(0o755)
    assert not out.is_file()


def test_convert_int8_without_calibration_data(files, tmp_path, capfd):
    out = tmp_path / "m.tflite"
    refused(capfd, tmp_path, convert_main, [files["model"], "--target", "int8", "-o", out], "--data", "config.yaml")


def test_convert_int8_unknown_dataset(files, tmp_path, capfd):
    out = tmp_path / "m.tflite"
    refused(capfd, tmp_path, convert_main, [files["model"], "--target", "int8", "--data", "cifar11", "-o", out],
            "'cifar11'")


# --------------------------------------------------------------------------- tfqnn-bench
def test_bench_lce_ops_in_the_plain_tflite_runtime(files, capfd):
    refused(capfd, files["model"].parent, bench_main, [files["lce"], "--runtime", "tflite", "--runs", "1"],
            "lce.tflite", "LceBconv2d", "--runtime")


def test_bench_dataset_with_the_wrong_image_shape(files, capfd):
    line = refused(capfd, files["model"].parent, bench_main,
                   [files["model_fb"], "--data", "cifar10", "--max-examples", "4", "--runs", "1", "--warmup", "0"],
                   "cifar10", "(32, 32, 3)", "(8, 8, 3)")
    assert "model.tflite" in line


def test_bench_unknown_dataset(files, capfd):
    refused(capfd, files["model"].parent, bench_main, [files["model_fb"], "--data", "cifar11", "--runs", "1"], "'cifar11'")


@pytest.mark.parametrize("option, value", [("--threads", "1,x"), ("--threads", "0"), ("--threads", ""),
                                           ("--threads", "2,-1"), ("--runs", "0"), ("--batch-size", "-3")])
def test_bench_bad_numbers(files, capfd, option, value):
    refused(capfd, files["model"].parent, bench_main, [files["model_fb"], option, value], option, repr(value)[1:-1])


# --------------------------------------------------------------------------- Python API
def test_api_unknown_model_names_the_closest():
    with pytest.raises(UnknownModelError, match=r"'resnet2O'; closest: .*resnet20"):
        tfqnn.build_model("resnet2O")


def test_api_unknown_option_suggests_the_right_one():
    with pytest.raises(ConfigError, match=r"'num_clases' for model 'resnet20' \(did you mean 'num_classes'\?\)"):
        tfqnn.build_model("resnet20", num_clases=10)


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 3, 1), (8, 0, 3), "32x32"])
def test_api_bad_input_shape_is_named(shape):
    with pytest.raises(ConfigError, match=r"model 'resnet20': input_shape must be \(height, width, channels\)"):
        tfqnn.build_model("resnet20", input_shape=shape)


def test_api_unknown_quantization_scheme():
    with pytest.raises(ConfigError, match="unknown quantization 'int3'.*tfmot8"):
        tfqnn.build_model("rexnet", width_mult=0.25, input_shape=(32, 32, 3), quantization="int3")


def test_api_data_unknown_split_and_name():
    from tfqnn import data

    with pytest.raises(ConfigError, match="'cifar10' has no split 'validation'"):
        data.load("cifar10", "validation")
    with pytest.raises(ConfigError, match="cannot parse split 'train\\[:abc\\]'"):
        data.load("cifar10", "train[:abc]")


def test_api_load_model_error_names_the_file(files):
    with pytest.raises(ModelFileError, match="notes.keras is not a Keras model"):
        tfqnn.load_model(files["notes"])


def test_api_atomic_write_leaves_nothing_on_failure(tmp_path):
    from tfqnn.fileio import atomic_path

    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    with pytest.raises(OutputPathError, match="out.bin already exists"):
        with atomic_path(target, overwrite=False):
            pass


def test_every_error_is_a_tfqnn_error():
    """The CLIs turn exactly ``TfqnnError`` into exit code 2, so every public error class must be one."""
    import tfqnn.errors as errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert len(classes) >= 8 and all(issubclass(c, TfqnnError) for c in classes)


# --------------------------------------------------------------------------- real console scripts
def _console_script(name: str) -> str:
    exe = shutil.which(name, path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail(f"console script {name} is not installed next to {sys.executable} (run make setup)")
    return exe


@pytest.mark.parametrize("script", ["tfqnn-train", "tfqnn-convert", "tfqnn-bench"])
def test_console_script_exits_2_with_one_line(files, tmp_path, script):
    if script == "tfqnn-train":
        argv, names = [str(write_config(tmp_path, append="  epochz: 3\n"))], ("training.epochz",)
    elif script == "tfqnn-convert":
        argv, names = [str(tmp_path / "nope.keras"), "--target", "float"], ("nope.keras",)
    else:
        argv, names = [str(files["notes_fb"])], ("notes.tflite", "not a TFLite flatbuffer")
    proc = subprocess.run([_console_script(script), *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and all(n in lines[0] for n in names), proc.stderr
    assert proc.stdout == "" and not (tmp_path / "run").exists()
