"""The workflow itself, run by snakemake on a micro config: scheduling, caching, atomic outputs, errors.

Each test works in its own copy of a finished micro study (built once per session).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from support.report import rendered_captions, report_files
from support.studies import EXTRA_ARCH, MICRO, copy_study
from support.workflow import BIN, ROOT, env, failed_job_logs, planned, snakemake, write_config

pytestmark = pytest.mark.workflow


@pytest.fixture
def study(finished, tmp_path):
    return copy_study(finished, tmp_path)


def test_micro_study_is_complete_and_nothing_left_to_do(finished):
    res = finished / "results"
    for rel in ("tables/accuracy.csv", "tables/correlations.csv", "tables/honesty.csv", "config.resolved.yaml",
                "provenance.json", "figures/honesty_simclr.png", "figures/corr_heatmap_simclr.png"):
        assert (res / rel).exists(), rel
    assert len(list((res / "probes").rglob("*.json"))) == 2 * 2 * 2
    assert len(list((res / "features").rglob("*.h5"))) == 2 * 2 * 2
    assert all((res / "logs").rglob("*.log"))
    assert planned(finished) == []


def test_editing_a_probe_parameter_reruns_only_probes_and_what_follows(study):
    cfg = yaml.safe_load((study / "micro.yaml").read_text())
    cfg["probe"]["params"]["num_l2"] = 6
    write_config(study, cfg)
    rules = {r for r, _ in planned(study)}
    assert "probe" in rules
    assert rules <= {"probe", "study_manifest", "tables", "figures", "provenance", "all"}
    assert sum(r == "probe" for r, _ in planned(study)) == 8


def test_adding_an_architecture_runs_only_its_jobs_and_the_aggregates(study):
    from archssl.catalog.archs import arch_id, normalize

    new = arch_id(normalize(EXTRA_ARCH))
    cfg = yaml.safe_load((study / "micro.yaml").read_text())
    cfg["archs"]["specs"].append(EXTRA_ARCH)
    write_config(study, cfg)
    jobs = planned(study)
    per_arch = [(r, w) for r, w in jobs if "arch" in w]
    assert per_arch and all(w["arch"] == new for _, w in per_arch)
    # spec, 2 pretrain, 2 x 2 features, 2 x 2 probes
    assert sorted(r for r, _ in per_arch).count("features") == 4
    assert {r for r, w in jobs if "arch" not in w} <= {"study_manifest", "tables", "figures", "provenance", "all"}


def test_killed_pretraining_leaves_no_complete_target_and_rerun_finishes(study):
    cfg = yaml.safe_load((study / "micro.yaml").read_text())
    cfg["pretrain"]["epochs"] = 6  # params changed: simclr pretraining reruns
    write_config(study, cfg)
    pre = study / "results" / "pretrain" / "simclr"
    for f in pre.rglob("*"):
        if f.is_file():
            f.unlink()
    proc = subprocess.Popen(
        [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(study),
         "--configfile", str(study / "micro.yaml"), "--cores", "1", "--until", "pretrain"],
        env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and not list(pre.rglob("checkpoint.pt")):
        time.sleep(0.2)
    assert list(pre.rglob("checkpoint.pt")), "pretraining never wrote a checkpoint"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # nothing under a target name looks complete
    assert not list(pre.rglob("backbone.pt"))
    assert not list(pre.rglob("metrics.csv")) or all(
        not (p.parent / "backbone.pt").exists() for p in pre.rglob("metrics.csv"))
    snakemake(study, "--unlock")  # a SIGKILLed snakemake leaves its lock, as documented
    r = snakemake(study, "--cores", "2", "--rerun-incomplete")
    assert "resuming from" in "".join(p.read_text() for p in (study / "results" / "logs" / "pretrain").rglob("*.log"))
    assert len(list(pre.rglob("backbone.pt"))) == 2
    assert planned(study) == []
    assert r.returncode == 0


@pytest.mark.parametrize("edit,key", [
    (lambda c: c.update(bogus=1), "bogus"),
    (lambda c: c["pretrain"].update(epochs="ten"), "pretrain.epochs"),
    (lambda c: c["archs"]["specs"].append({"family": "transformer"}), "transformer"),
    (lambda c: c["data"]["downstream"].append("cifar11"), "data.downstream[2]"),
    (lambda c: c["probe"].update(name="svm"), "probe.name"),
])
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, edit, key):
    cfg = yaml.safe_load(yaml.safe_dump(MICRO))
    edit(cfg)
    write_config(tmp_path, cfg)
    r = snakemake(tmp_path, "--cores", "1", check=False)
    assert r.returncode != 0
    assert key in r.stdout + r.stderr
    assert not (tmp_path / "results").exists()


def test_corrupt_feature_file_is_rebuilt(study):
    from archssl.evaluate.featurestore import is_valid

    f = sorted((study / "results" / "features").rglob("*.h5"))[0]
    f.write_bytes(f.read_bytes()[: 2000])
    assert not is_valid(f)
    r = snakemake(study, "--cores", "2")
    assert "is truncated or corrupt" in r.stderr, r.stderr[-3000:]
    assert f.with_name(f.name + ".corrupt").exists()  # set aside for inspection, not deleted
    assert is_valid(f)
    assert planned(study) == []


def test_default_mini_study_groups_datasets_per_job(tmp_path):
    """The laptop default runs one feature job and one probe job per (method, arch): 16 + 16, not 128 + 128."""
    shutil.copy(ROOT / "config" / "config.yaml", tmp_path / "config.yaml")
    jobs = planned(tmp_path, config="config.yaml")
    rules = [r for r, _ in jobs]
    assert rules.count("features") == 16 and rules.count("probe") == 16
    assert rules.count("pretrain") == 16 and rules.count("prepare_data") == 9


def test_preset_dry_run_builds_without_data_and_a_real_run_stops_first(tmp_path):
    """The CIFAR preset reads real datasets from disk: a dry run plans the study without them; a real run
    stops before any job with the expected path and layout of each missing dataset."""
    shutil.copy(ROOT / "config" / "studies" / "girish_cifar.yaml", tmp_path / "cifar.yaml")
    cfg = yaml.safe_load((tmp_path / "cifar.yaml").read_text())
    cfg["data"]["data_root"] = str(tmp_path / "datasets")
    write_config(tmp_path, cfg, "cifar.yaml")
    jobs = planned(tmp_path, config="cifar.yaml")
    # 24 sampled + ResNet-18, the searched network and 5 random ones of its size; random and simclr each
    assert sum(r == "pretrain" for r, _ in jobs) == 2 * (25 + 1 + 5)
    assert sum(r == "nas_search" for r, _ in jobs) == 1
    r = snakemake(tmp_path, "--cores", "1", config="cifar.yaml", check=False)
    assert r.returncode != 0
    assert "nothing was run" in r.stderr and f"{tmp_path}/datasets/svhn" in r.stderr
    assert "train_32x32.mat" in r.stderr
    assert not (tmp_path / "results").exists()


def test_per_method_pretraining_set_and_patch_evaluation_reach_the_jobs(tmp_path):
    """method_params.supervised.dataset sends the supervised baseline to a labelled set (its input and its
    command), the SSL methods stay on the pool; features.patch_eval: patch_average reaches only the
    patch-based method's feature jobs."""
    cfg = yaml.safe_load(yaml.safe_dump(MICRO))
    cfg["methods"] = ["random", "simclr", "supervised", "jigsaw"]
    cfg["pretrain"]["method_params"]["supervised"] = {"dataset": "textures"}
    cfg["features"] = {"patch_eval": "patch_average"}
    write_config(tmp_path, cfg)
    out = snakemake(tmp_path, "-n", "-p").stdout
    blocks = out.split("\n\n")
    pre = {m: next(b for b in blocks if "rule pretrain:" in b and f"method={m}," in b) for m in cfg["methods"]}
    assert "results/data/textures/images.h5" in pre["supervised"] and '"method": "supervised"' in pre["supervised"]
    assert '"name": "textures"' in pre["supervised"] and "results/data/pool/images.h5" not in pre["supervised"]
    for m in ("random", "simclr", "jigsaw"):
        assert "results/data/pool/images.h5" in pre[m] and '"name": "pool"' in pre[m]
    feats = [b for b in blocks if re.search(r"rule features(_grouped)?:", b)]
    assert len(feats) == 4 * 2 * 2
    for b in feats:
        assert ('"patches": {' in b) == ("method=jigsaw" in b), b


def test_variants_run_only_their_own_jobs_and_are_compared_with_their_method(study):
    """Two variants of simclr added to a finished study (its head removed; another seed): only their jobs and
    the aggregates run; their pretraining gets the merged params and the seed; their feature files name the
    variant and its method; the ablation table agrees with a recomputation from the accuracy table."""
    import pandas as pd
    import torch

    from archssl.evaluate.featurestore import read_attrs

    cfg = yaml.safe_load((study / "micro.yaml").read_text())
    cfg["variants"] = {"simclr_nohead": {"method": "simclr", "params": {"head": {"kind": "none"}}},
                       "simclr_s1": {"method": "simclr", "seed": 1}}
    cfg["methods"] += ["simclr_nohead", "simclr_s1"]
    write_config(study, cfg)
    jobs = planned(study)
    assert {w["method"] for _, w in jobs if "method" in w} == {"simclr_nohead", "simclr_s1"}
    assert sum(r == "pretrain" for r, _ in jobs) == 2 * 2
    assert {r for r, w in jobs if "method" not in w} <= {"study_manifest", "tables", "figures", "provenance", "all"}
    blocks = snakemake(study, "-n", "-p").stdout.split("\n\n")
    pre = {m: next(b for b in blocks if "rule pretrain:" in b and f"method={m}," in b)
           for m in ("simclr_nohead", "simclr_s1")}
    assert all('"method": "simclr"' in b for b in pre.values())
    assert '"head": {"bn": true, "hidden": 32, "kind": "none", "out": 16}' in pre["simclr_nohead"] and '"seed": 0' in pre["simclr_nohead"]
    assert '"head": {"bn": true, "hidden": 32, "kind": "mlp", "out": 16}' in pre["simclr_s1"] and '"seed": 1' in pre["simclr_s1"]

    snakemake(study, "--cores", "2")
    assert planned(study) == []
    res = study / "results"
    arch = sorted(p.name for p in (res / "pretrain" / "simclr").iterdir())[0]
    attrs = read_attrs(res / "features" / "simclr_s1" / arch / "shape.h5")
    assert (attrs["method"], attrs["ssl_method"]) == ("simclr_s1", "simclr")
    w = {m: torch.load(res / "pretrain" / m / arch / "backbone.pt", weights_only=False)["state_dict"]
         for m in ("simclr", "simclr_s1")}
    assert any(not torch.equal(w["simclr"][k], w["simclr_s1"][k]) for k in w["simclr"])

    acc = pd.read_csv(res / "tables" / "accuracy.csv")
    acc = acc[acc["primary"]].set_index(["method", "arch", "dataset"])["value"]
    abl = pd.read_csv(res / "tables" / "ablations.csv")
    assert len(abl) == 2 * 2 and set(abl["change"]) == {"head.kind=none", "seed=1"}
    for r in abl.itertuples():
        archs = sorted(p.name for p in (res / "pretrain" / r.variant).iterdir())
        deltas = [acc[(r.variant, a, r.dataset)] - acc[("simclr", a, r.dataset)] for a in archs]
        assert r.n == 2 and r.mean_delta == pytest.approx(sum(deltas) / 2, abs=1e-12)
        assert (r.wins, r.losses) == (sum(d > 0 for d in deltas), sum(d < 0 for d in deltas))
    assert (res / "figures" / "ablations.png").stat().st_size > 5000
    # the report takes the ablation table and figure, and every figure of the variants (names with underscores)
    snakemake(study, "--report", "results/report.html")
    html = (res / "report.html").read_text()
    assert "ablations.csv" in html and "ablations.png" in html and "honesty_simclr_nohead.png" in html


def test_a_dry_run_of_the_default_study_imports_no_torch(tmp_path):
    """Parsing the Snakefile (done again by every cluster job) resolves the plan without torch."""
    shutil.copy(ROOT / "config" / "config.yaml", tmp_path / "config.yaml")
    cmd = [sys.executable, "-X", "importtime", "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "-n"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env())
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"^features\s+16$", r.stdout, flags=re.M), r.stdout[-3000:]  # one job per run and arch
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "snakemake" in imported and "archssl.plan" in imported
    assert not {m for m in imported if m.split(".")[0] in ("torch", "torchvision")}


def test_execution_only_settings_rerun_nothing_and_a_forced_rerun_is_bit_identical(study):
    """Workers, inference batch size, checkpoint interval and devices are not in any job spec: changing them
    plans nothing; forcing the pretraining (and so everything after it) to rerun under them gives the same
    weights bit for bit, and the same probe selections and test scores."""
    import json

    import numpy as np
    import torch

    from archssl.evaluate.featurestore import read_features

    res = study / "results"
    before_w = {p.relative_to(res): torch.load(p, weights_only=False)["state_dict"]
                for p in (res / "pretrain").rglob("backbone.pt")}
    before_p = {p.relative_to(res): json.loads(p.read_text())["results"] for p in (res / "probes").rglob("*.json")}
    before_f = {p.relative_to(res): read_features(p)["test"].X for p in (res / "features").rglob("*.h5")}
    cfg = yaml.safe_load((study / "micro.yaml").read_text())
    cfg["pretrain"].update(num_workers=1, checkpoint_every=2, device="cpu")
    cfg["features"] = {"batch_size": 7, "num_workers": 1, "device": "cpu"}
    cfg["probe"]["params"].update(device="cpu", num_threads=1)
    write_config(study, cfg)
    # only the record of the config (config.resolved.yaml) is rewritten: no stage reruns
    assert planned(study) == [("provenance", {}), ("all", {})]
    snakemake(study, "--cores", "2", "--forcerun", "pretrain")
    after_w = {p.relative_to(res): torch.load(p, weights_only=False)["state_dict"]
               for p in (res / "pretrain").rglob("backbone.pt")}
    assert before_w.keys() == after_w.keys() and len(after_w) == 4
    for k in before_w:
        assert all(torch.equal(before_w[k][t], after_w[k][t]) for t in before_w[k]), k
    after_p = {p.relative_to(res): json.loads(p.read_text())["results"] for p in (res / "probes").rglob("*.json")}
    assert after_p.keys() == before_p.keys()
    # features of the same weights, now in batches of 7: equal up to float32 round-off (another batch size
    # may take other convolution kernels), and the probes select the same l2 and score the same test images
    after_f = {p.relative_to(res): read_features(p)["test"].X for p in (res / "features").rglob("*.h5")}
    for k, x in before_f.items():
        np.testing.assert_allclose(after_f[k], x, rtol=1e-4, atol=1e-5, err_msg=str(k))
    for k in before_p:
        assert [(r["selected"]["l2"], r["test"]) for r in before_p[k]] == [
            (r["selected"]["l2"], r["test"]) for r in after_p[k]], k


def test_a_changed_code_default_reruns_exactly_the_jobs_that_rely_on_it(study, tmp_path):
    """A default changed in the code (SimCLR's temperature in its descriptor; the micro config does not set
    it) is in simclr's job specs: simclr's pretraining and what follows rerun, the random baseline does not."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "from archssl.catalog import METHODS\nMETHODS.get('simclr').params['temperature']['default'] = 0.3\n")
    e = env()
    e["PYTHONPATH"] = f"{site}{os.pathsep}{e.get('PYTHONPATH', '')}"
    per_run = [(r, w) for r, w in planned(study, env=e) if w]
    assert sorted(r for r, _ in per_run) == ["features"] * 4 + ["pretrain"] * 2 + ["probe"] * 4
    assert {w["method"] for _, w in per_run} == {"simclr"}


def test_status_lists_the_results_of_edited_code_and_how_to_rerun_them(study, tmp_path):
    """An edit to SimCLR's module (a loss function) reruns nothing by itself; `archssl status` lists exactly
    the backbones that code made (not the random baseline's), with the command that reruns them."""
    env_ = env()
    r = subprocess.run([str(BIN / "archssl"), "status", "micro.yaml"], cwd=study, capture_output=True, text=True,
                       env=env_)
    assert r.returncode == 0 and "every existing result was made by the code installed now" in r.stdout, r.stdout
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "archssl", src / "archssl")
    simclr = src / "archssl" / "methods" / "simclr.py"
    env_["PYTHONPATH"] = str(src)
    # what does not compute is not code: a comment, a docstring, an import moved (archssl.codedigest)
    text = simclr.read_text()
    simclr.write_text(text.replace('"""', '"""An edited docstring. ', 1) + "\n# an edited comment\n")
    r = subprocess.run([sys.executable, "-m", "archssl.cli", "status", "micro.yaml"], cwd=study,
                       capture_output=True, text=True, env=env_)
    assert r.returncode == 0 and "every existing result was made by the code installed now" in r.stdout, r.stdout
    # an edit of the loss is
    assert "sim = z @ z.t() / temperature" in text
    simclr.write_text(text.replace("sim = z @ z.t() / temperature", "sim = z @ z.t() / (2 * temperature)"))
    r = subprocess.run([sys.executable, "-m", "archssl.cli", "status", "micro.yaml"], cwd=study,
                       capture_output=True, text=True, env=env_)
    assert r.returncode == 0, r.stderr
    listed = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("  pretrain")]
    assert len(listed) == 2 and all("/pretrain/simclr/" in p for p in listed), r.stdout
    assert "2 results were made by other code than today's" in r.stdout
    assert "snakemake --cores 2 --forcerun " + " ".join(listed) in r.stdout


def test_report_lists_every_planned_figure_and_table_and_a_browser_shows_the_captions(study):
    """The micro study (2 architectures, 2 datasets): every planned figure exists as PNG and PDF and is in
    the report's file list with its caption; each probe result carries its interval over test images; the
    report opened in headless Chromium shows every figure kind's caption."""
    import json

    import pandas as pd

    from archssl.plan import plan, split_stem

    p = plan(yaml.safe_load((study / "micro.yaml").read_text()))
    res = study / "results"
    for stem in p.figures:
        assert (res / "figures" / f"{stem}.png").stat().st_size > 5000, stem
        assert (res / "figures" / f"{stem}.pdf").stat().st_size > 1000, stem
    # 2 architectures: no top-k figure (needs 3); one tap: no depth figure; no variants: no study figures
    assert {split_stem(s)[0] for s in p.figures} == {"corr_heatmap", "vs_reference", "acc_vs_params", "honesty",
                                                    "pretext_vs_downstream"}
    doc = json.loads(next((res / "probes").rglob("*.json")).read_text())
    r = doc["results"][-1]
    lo, hi = r["test_ci"][r["metric"]]
    assert lo <= r["value"] <= hi and hi - lo > 0 and r["test_ci"]["n_resamples"] == 2000
    snakemake(study, "--report", "results/report.html")
    html = (res / "report.html").read_text()
    listed = report_files(html)
    assert {f"{s}.png" for s in p.figures} <= listed, sorted({f"{s}.png" for s in p.figures} - listed)
    assert {"accuracy.csv", "correlations.csv", "honesty.csv", "ranks.csv", "best.csv", "topk.csv"} <= listed
    assert "L2-regularised linear probe whose" not in html and "lbfgs_logreg" in html
    # each figure kind's own caption (its first words), not a table's
    firsts = {split_stem(s)[0]: " ".join((ROOT / "workflow" / "report" / "figures" / f"{split_stem(s)[0]}.rst")
                                          .read_text().split("\n", 2)[1].split()[:4]) for s in p.figures}
    # what the browser renders once the report's scripts ran (each result's panel opened in turn), not the
    # scripts' source (which holds every caption)
    shown, captions = rendered_captions(res / "report.html")
    assert "Snakemake" in shown
    for stem in p.figures:
        name = split_stem(stem)[0]
        assert firsts[name] in captions[f"{stem}.png"], (stem, firsts[name])
        assert f"Numbers of {stem}:" in captions[f"{stem}.png"], stem
    # each caption states the numbers of its figure: here the honesty table's gains, intervals and wins
    hon = pd.read_csv(res / "tables" / "honesty.csv")
    for r in hon.itertuples():
        want = f"gain {r.mean_gain:+.3f} [{r.ci_lo:+.3f}, {r.ci_hi:+.3f}], wins {r.wins}/{r.n}"
        assert want in captions[f"honesty_{r.method}.png"], (want, captions[f"honesty_{r.method}.png"])


def test_a_failed_snakemake_run_reports_the_end_of_each_failed_jobs_log(tmp_path):
    (tmp_path / "results/logs").mkdir(parents=True)
    (tmp_path / "results/logs/a.log").write_text("x" * 5000 + "Traceback: the real reason")
    stderr = ("Error in rule pretrain:\n    jobid: 3\n"
              "    log: results/logs/a.log, results/logs/b.log (check log file(s) for error details)\n")
    text = failed_job_logs(tmp_path, stderr, tail=100)
    assert "--- results/logs/a.log" in text and text.count("x") < 150 and "the real reason" in text
    assert "--- results/logs/b.log (last 100 characters) ---\n(no log file)" in text
    assert failed_job_logs(tmp_path, "Nothing to be done.") == ""
