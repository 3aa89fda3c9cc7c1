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


def test_config_validate_summarises_the_study(tmp_path, capsys):
    cfg = {"study": "s", "data": {"pretrain": "pool", "downstream": ["shape", "count", "digits"]},
           "archs": {"named": ["resnet18_cifar", "resnet50_cifar"]},
           "methods": ["random", "moco", "moco_k512", "moco_k512_nohead"],
           "variants": {"moco_k512": {"method": "moco", "params": {"queue_size": 512}},
                        "moco_k512_nohead": {"method": "moco", "against": "moco_k512", "note": "no head",
                                             "params": {"queue_size": 512, "head": {"kind": "none"}}}}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(cfg))
    main(["config", "validate", str(tmp_path / "s.yaml")])
    out = capsys.readouterr().out.splitlines()
    # 2 x 4 pretraining jobs, 2 x 4 x 3 probes
    assert out[0].endswith("valid; 2 architectures x 4 runs = 8 pretraining jobs, x 3 datasets = 24 probes")
    assert out[2] == "  methods: random, moco"
    assert out[3] == "  variant moco_k512: moco, queue_size=512"
    assert out[4] == "  variant moco_k512_nohead: moco, no head, against moco_k512"


def test_forwarded_commands_take_options_first(tmp_path, capsys):
    """`archs list --preset ...` and `data check --data-root ...` start with an option (argparse.REMAINDER
    used to reject them)."""
    import pytest

    with pytest.raises(SystemExit) as e:
        main(["archs", "list", "--preset", "girish"])
    assert e.value.code == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "id,family,params,flops" and len(rows) == 1 + 116  # the Girish study's 116 architectures
    with pytest.raises(SystemExit) as e:
        main(["data", "check", "--data-root", str(tmp_path), "cifar10"])
    assert e.value.code != 0
    assert f"{tmp_path}/cifar10" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["config", "validate", "x.yaml", "--bogus"])
    assert e.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_config_validate_merges_several_files_in_order(tmp_path, capsys):
    import pytest

    base = {"study": "s", "data": {"pretrain": "pool", "downstream": ["shape"]}, "archs": {"named": ["resnet18_cifar"]},
            "methods": ["random", "simclr"]}
    top = {"methods": ["random", "simclr_s1"], "variants": {"simclr_s1": {"method": "simclr", "seed": 1}}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "top.yaml").write_text(yaml.safe_dump(top))
    main(["config", "validate", str(tmp_path / "base.yaml"), str(tmp_path / "top.yaml")])
    out = capsys.readouterr().out.splitlines()
    assert "valid; 1 architectures x 2 runs" in out[0]
    assert out[-1] == "  variant simclr_s1: simclr, seed=1, not compared (simclr is not in methods)"
    (tmp_path / "list.yaml").write_text("[1, 2]\n")
    with pytest.raises(SystemExit) as e:
        main(["config", "validate", str(tmp_path / "base.yaml"), str(tmp_path / "list.yaml")])
    assert e.value.code == 2 and "list.yaml: must be a mapping of config keys, got list" in capsys.readouterr().err
