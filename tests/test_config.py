from __future__ import annotations

from pathlib import Path

import pytest

from tfqnn.config import ExperimentConfig, config_from_dict, dump_config, load_config
from tfqnn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _recipe_loaders():
    """Folders whose YAML files are family recipes with their own validated schema."""
    from tfqnn.training.ec2t_recipe import load_recipe

    return {"ec2t": load_recipe}


def test_every_shipped_config_loads():
    files = sorted((ROOT / "configs").rglob("*.yaml"))
    assert files, "no configs shipped"
    recipes = _recipe_loaders()
    for f in files:
        family = f.relative_to(ROOT / "configs").parts[0]
        if family in recipes:
            assert recipes[family](f).model["name"]
            continue
        cfg = load_config(f)
        assert isinstance(cfg, ExperimentConfig)
        assert cfg.model.name


def test_unknown_key_names_key_file_and_allowed(tmp_path):
    f = tmp_path / "exp.yaml"
    f.write_text("training:\n  epoch: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    msg = str(err.value)
    assert "training.epoch" in msg and str(f) in msg and "epochs" in msg and "\n" not in msg


def test_unknown_top_level_section(tmp_path):
    f = tmp_path / "exp.yaml"
    f.write_text("modle:\n  name: resnet20\n")
    with pytest.raises(ConfigError, match="'modle'.*did you mean 'model'"):
        load_config(f)


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"training": {"epochs": "ten"}}, "training.epochs"),
        ({"training": {"optimizer": {"learning_rate": "fast"}}}, "training.optimizer.learning_rate"),
        ({"data": {"augment": "yes"}}, "data.augment"),
        ({"training": {"schedule": {"milestones": 5}}}, "training.schedule.milestones"),
        ({"model": {"options": [1, 2]}}, "model.options"),
        ({"training": {"epochs": True}}, "training.epochs"),
    ],
)
def test_wrong_type_names_field(raw, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        config_from_dict(raw, "x.yaml")


def test_int_accepted_for_float_and_nested_dataclasses_built():
    cfg = config_from_dict({"training": {"optimizer": {"learning_rate": 1}, "callbacks": [{"name": "stop_on_nan"}]}})
    assert cfg.training.optimizer.learning_rate == 1.0 and isinstance(cfg.training.optimizer.learning_rate, float)
    assert cfg.training.callbacks[0].name == "stop_on_nan"
    # PyYAML reads exponents without a dot ("1e-3") as strings; float fields accept them
    assert config_from_dict({"training": {"optimizer": {"learning_rate": "1e-3"}}}).training.optimizer.learning_rate == 0.001


def test_overrides(tmp_path):
    f = tmp_path / "exp.yaml"
    f.write_text("name: demo\ntraining:\n  epochs: 3\n")
    cfg = load_config(f, ["training.epochs=5", "model.options.base_width=8", "training.schedule.milestones=[1, 2]",
                          "data.max_train_examples=null"])
    assert cfg.training.epochs == 5
    assert cfg.model.options == {"base_width": 8}
    assert cfg.training.schedule.milestones == [1.0, 2.0]
    assert cfg.data.max_train_examples is None
    with pytest.raises(ConfigError, match="training.epohcs"):
        load_config(f, ["training.epohcs=5"])
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(f, ["training.epochs"])


def test_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_name_defaults_to_file_stem_and_dump_round_trips(tmp_path):
    f = tmp_path / "my_run.yaml"
    f.write_text("training:\n  epochs: 2\n")
    cfg = load_config(f)
    assert cfg.name == "my_run"
    again = tmp_path / "again.yaml"
    again.write_text(dump_config(cfg))
    assert load_config(again) == cfg
