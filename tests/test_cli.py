"""The small commands the workflow's bookkeeping rules run (no Python job spawned for them)."""

import json

import yaml

from archssl.cli import main


def test_write_yaml_and_json(tmp_path):
    value = {"b": [1, 2], "a": {"z": 1.5, "y": "x"}}
    main(["write", "--value", json.dumps(value), "--out", str(tmp_path / "v.yaml")])
    main(["write", "--value", json.dumps(value), "--out", str(tmp_path / "v.json")])
    text = (tmp_path / "v.yaml").read_text()
    assert yaml.safe_load(text) == value and text.index("a:") < text.index("b:")  # keys sorted
    assert json.loads((tmp_path / "v.json").read_text()) == value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.json", "v.yaml"]  # no temporary files left


def test_provenance_keeps_the_config_order_and_reads_the_spec_files(tmp_path):
    specs = {"resnet-x-1": {"family": "resnet", "width": 8}, "mbv2-y-2": {"family": "mobilenetv2"}}
    paths = []
    for arch, spec in specs.items():
        paths.append(tmp_path / f"{arch}.yaml")
        paths[-1].write_text(yaml.safe_dump(spec))
    config = {"study": "s", "seed": 0, "data": {"pretrain": "pool"}, "archs": {"specs": list(specs.values())}}
    main(["provenance", "--config", json.dumps(config), "--specs", *map(str, paths),
          "--config-out", str(tmp_path / "config.resolved.yaml"), "--out", str(tmp_path / "provenance.json")])
    resolved = (tmp_path / "config.resolved.yaml").read_text()
    assert yaml.safe_load(resolved) == config
    assert [line.split(":")[0] for line in resolved.splitlines() if not line.startswith(" ")][:3] == [
        "study", "seed", "data"]
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["architectures"] == specs
    assert {"torch", "torchvision", "snakemake"} <= set(prov["packages"])


def test_a_missing_spec_file_is_named_without_a_traceback(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as e:
        main(["provenance", "--config", "{}", "--specs", str(tmp_path / "nope.yaml"),
              "--config-out", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "p.json")])
    assert e.value.code != 0
    assert f"{tmp_path / 'nope.yaml'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
