"""Faults a study meets on real machines: a closed pipe, a full disk, a shared cluster's umask, damaged files
(truncated, garbage, value-altered checkpoints, backbones, feature files and probe results), out-of-range
parameters, edited code, two runs at once. Each gets a clear message naming the file or key, nothing wrong is
accepted, and nothing incomplete is left under a target's name; on the micro study, the rerun ends with the
same tables as an undisturbed run. (A SIGKILL mid-epoch: tests/test_faults_pretrain.py, bit-identical weights,
and tests/test_workflow.py on the micro study.)"""

import contextlib
import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from archssl.cli import main

BIN = Path(sys.executable).parent
ATTRS = {"arch": "a", "dataset": "d", "method": "m", "preprocessing": {}, "code_version": "x", "config_hash": "y"}


def test_a_closed_pipe_ends_the_cli_quietly():
    """`archssl archs list ... | head -1`: the reader closes the pipe after one line."""
    r = subprocess.run(f"{BIN / 'archssl'} archs list --preset girish | head -1", shell=True, capture_output=True,
                       text=True, env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert r.stdout.startswith("id,family,params,flops")
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr


@contextlib.contextmanager
def _mounted(path: Path, size: str):
    """A tmpfs of ``size`` mounted over the existing folder ``path`` (root only; skipped elsewhere but in CI)."""
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs in CI: {r.stderr.decode()}")
        pytest.skip(f"mounting a tmpfs needs root: {r.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


@contextlib.contextmanager
def small_disk(path: Path, size: str = "256k"):
    """A new folder ``path`` with a tmpfs of ``size`` on it (:func:`_mounted`)."""
    path.mkdir()
    with _mounted(path, size):
        yield path


def test_a_full_disk_while_writing_features_is_one_clean_error(tmp_path):
    """HDF5 reports a full disk from its buffers (uncatchable errors, then a segfault, before); the writer now
    fails first with ENOSPC naming the target and leaves no file behind (in a fresh process: exit 0, no
    segfault, no h5py error spam)."""
    with small_disk(tmp_path / "disk") as disk:
        code = f"""
import errno, sys, numpy as np
from archssl.evaluate.featurestore import FeatureWriter
try:
    with FeatureWriter({str(disk / 'x.h5')!r}, {ATTRS!r}, ["prelogits"]) as w:
        for _ in range(40):
            w.append("train", {{"prelogits": np.ones((500, 64), np.float32)}}, np.zeros(500, np.int64))
except OSError as e:
    print("ENOSPC" if e.errno == errno.ENOSPC else e, e.filename)
"""
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.split() == ["ENOSPC", str(disk / "x.h5")]
        assert "RuntimeError" not in r.stderr
        assert list(disk.iterdir()) == []


def test_a_full_disk_in_a_cli_write_names_the_path_and_keeps_nothing(tmp_path, capsys):
    with small_disk(tmp_path / "disk", "64k") as disk:
        big = json.dumps({"x": "y" * 200_000})
        with pytest.raises(SystemExit) as e:
            main(["write", "--value", big, "--out", str(disk / "v.json")])
        assert e.value.code == 1
        err = capsys.readouterr().err
        assert f"no space left on the device writing {disk / 'v.json'}" in err and "Traceback" not in err
        assert list(disk.iterdir()) == []


def test_outputs_follow_the_umask(tmp_path):
    """Atomic writers create their temporary file 0600; the published file has the mode a plain open() gives
    (0644 under umask 022, 0664 under 002): colleagues on a shared cluster can read results."""
    from archssl.evaluate.featurestore import FeatureWriter
    from archssl.utils import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"a": 1})
        with FeatureWriter(tmp_path / "f.h5", ATTRS, ["prelogits"]) as w:
            w.append("train", {"prelogits": np.ones((3, 2), np.float32)}, np.zeros(3, np.int64))
        os.umask(0o002)
        write_json(tmp_path / "b.json", {"b": 1})
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE((tmp_path / p).stat().st_mode)  # noqa: E731
    assert (mode("a.json"), mode("f.h5"), mode("b.json")) == (0o644, 0o644, 0o664)


def test_an_enospc_from_the_rename_step_names_the_target(tmp_path, monkeypatch):
    """Where the disk fills at the last step (fsync, rename), the error names the target, not the temporary
    file, and the temporary file is removed."""
    import archssl.utils as U

    def full(tmp, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(U, "publish", full)
    with pytest.raises(OSError) as e:
        U.write_json(tmp_path / "a.json", {"a": 1})
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "a.json")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------------------
# The fault matrix on the micro study. One undisturbed build per module; each fault works in a copy of it,
# reruns only what snakemake decides to, and must end with the same tables, byte for byte (one config gives
# bit-identical results on one machine). Fault -> what the user sees -> outcome (the module docstring of
# archssl.integrity and the closing note have the table).

import shutil  # noqa: E402
import time  # noqa: E402

import yaml  # noqa: E402

from support.studies import MICRO, build_study, copy_study  # noqa: E402
from support.workflow import ROOT, planned, snakemake, write_config  # noqa: E402

#: the micro study, smaller still: one feature job and one probe job per (method, arch), 2 steps per epoch
FAULTS = yaml.safe_load(yaml.safe_dump(MICRO))
FAULTS["data"]["builtin"]["pool_size"] = 256
FAULTS["features"] = {"group_datasets": True}
FAULTS["probe"]["group_datasets"] = True
FAULTS["probe"]["params"]["num_l2"] = 2
FAULTS["analysis"]["bootstrap"] = {"n_resamples": 200}
RESNET, MBV2 = "resnet-basic-d11-w4-cifar-428a25", "mbv2-x0.25-d1111111-small-56c299"


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory):
    return build_study(tmp_path_factory, "faults", FAULTS)


@pytest.fixture
def study(undisturbed, tmp_path):
    return copy_study(undisturbed, tmp_path)


def tables(work: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((work / "results" / "tables").glob("*.csv"))}


def assert_same_tables(work: Path, undisturbed: Path) -> None:
    got, want = tables(work), tables(undisturbed)
    assert sorted(got) == sorted(want)
    assert [name for name in want if got[name] != want[name]] == []


def logs(work: Path, stage: str = "") -> str:
    return "\n".join(p.read_text() for p in sorted((work / "results" / "logs" / stage).rglob("*.log")))



def garbage_bytes(n: int) -> bytes:
    """``n`` random bytes, the same every run: a file of os.urandom bytes fails torch.load with an
    UnpicklingError nearly always, but now and then (its first byte decides) with another error."""
    import random

    return random.Random(0).randbytes(n)

def res(work: Path, *parts: str) -> Path:
    return work.joinpath("results", *parts)


def rebuild(work: Path, *args: str):
    """The user's rerun: the same command, nothing else; afterwards nothing is left to do."""
    r = snakemake(work, "--cores", "2", *args)
    assert planned(work) == []
    return r


@pytest.mark.slow
def test_damaged_backbones_are_named_set_aside_and_rebuilt(study, undisturbed):
    """Truncated, garbage and value-altered backbone.pt: each is newer than its features, so the features job
    reads it, refuses it naming the file, and sets it aside; the rerun pretrains it again."""
    import torch

    truncated, garbage, altered = (res(study, "pretrain", m, a, "backbone.pt")
                                   for m, a in (("simclr", RESNET), ("random", MBV2), ("simclr", MBV2)))
    truncated.write_bytes(truncated.read_bytes()[:5000])
    garbage.write_bytes(garbage_bytes(4096))
    state = torch.load(altered, weights_only=False)  # one weight changed by 10%, saved back as it was
    key = next(k for k, v in state["state_dict"].items() if v.is_floating_point() and v.numel() > 8)
    state["state_dict"][key] = state["state_dict"][key] * 1.1
    torch.save(state, altered)

    r = snakemake(study, "--cores", "2", "--keep-going", check=False)
    assert r.returncode != 0
    log = logs(study, "features")
    t, g, a = (f.relative_to(study) for f in (truncated, garbage, altered))  # jobs name them as snakemake does
    assert f"archssl: error: {t}: not a readable archssl backbone file (" in log, log[-3000:]
    assert f"archssl: error: {g}: not a readable archssl backbone file (UnpicklingError" in log
    assert f"archssl: error: {a}: content differs from the digest written with it" in log
    for f in (truncated, garbage, altered):
        assert not f.exists() and f.with_name("backbone.pt.corrupt").exists()
        assert "set aside as backbone.pt.corrupt: rerun to rebuild it" in log
    assert "Traceback" not in log
    assert_same_tables(study, undisturbed)  # nothing computed from them reached the tables

    rebuild(study)
    assert_same_tables(study, undisturbed)


def _pretrain_cli(work: Path, arch: str, stop_after: int, exec_: str) -> None:
    """The simclr pretraining of ``arch`` as the workflow runs it, stopped after ``stop_after`` epochs."""
    job = subprocess.run([str(BIN / "archssl"), "plan", str(work / "micro.yaml"), "--stage", "pretrain", "--run",
                          "simclr"], capture_output=True, text=True, check=True, cwd=work).stdout
    out = res(work, "pretrain", "simclr", arch)
    r = subprocess.run([str(BIN / "archssl"), "pretrain", "--job", job, "--spec", str(res(work, "archs", f"{arch}.yaml")),
                        "--out-dir", str(out), "--threads", "1", "--exec", exec_, "--stop-after-epochs",
                        str(stop_after)], capture_output=True, text=True, cwd=work,
                       env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.slow
def test_damaged_checkpoints_fall_back_to_the_previous_one_or_start_afresh(study, undisturbed):
    """Two interrupted simclr runs, each with checkpoint.pt (end of epoch 1) and checkpoint.prev.pt (epoch 1,
    step 1). Run A: the newest value-altered -> it resumes from the previous one. Run B: the newest truncated,
    the previous with NaN weights (under a valid digest: the finiteness check catches it) -> a fresh start.
    Either way the rerun ends with the weights of an undisturbed run."""
    import torch

    from archssl.integrity import seal

    # as if the first simclr pretrainings had been interrupted: no backbone, nothing computed from it yet
    for stage in ("features", "probes"):
        shutil.rmtree(res(study, stage, "simclr"))
    for arch in (RESNET, MBV2):
        for f in ("backbone.pt", "metrics.csv"):
            res(study, "pretrain", "simclr", arch, f).unlink()
        _pretrain_cli(study, arch, 1, "checkpoint_minutes=1e-9")
    a, b = res(study, "pretrain", "simclr", RESNET), res(study, "pretrain", "simclr", MBV2)
    for d in (a, b):
        assert (torch.load(d / "checkpoint.pt", weights_only=False)["epoch"],
                torch.load(d / "checkpoint.prev.pt", weights_only=False)["step"]) == (1, 1)
    state = torch.load(a / "checkpoint.pt", weights_only=False)
    key = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][key] = state["model"][key] + 1e-3
    torch.save(state, a / "checkpoint.pt")
    (b / "checkpoint.pt").write_bytes((b / "checkpoint.pt").read_bytes()[:3000])
    state = torch.load(b / "checkpoint.prev.pt", weights_only=False)
    key = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][key] = torch.full_like(state["model"][key], float("nan"))
    torch.save(seal(state), b / "checkpoint.prev.pt")

    rebuild(study)
    a, b = a.relative_to(study), b.relative_to(study)  # the job names them as snakemake does
    log_a, log_b = (res(study, "logs", "pretrain", "simclr", f"{arch}.log").read_text() for arch in (RESNET, MBV2))
    assert f"{a / 'checkpoint.pt'}: content differs from the digest written with it" in log_a, log_a[-3000:]
    assert "trying checkpoint.prev.pt" in log_a and "set aside as checkpoint.pt.corrupt" in log_a
    assert f"resuming from {a / 'checkpoint.prev.pt'} at epoch 1/2, step 1 (mid-epoch)" in log_a
    assert f"{b / 'checkpoint.pt'}: not a readable checkpoint (" in log_b, log_b[-3000:]
    assert f"{b / 'checkpoint.prev.pt'}: checkpoint holds NaN/inf values in model.{key}" in log_b
    assert "starting from scratch (epoch 1)" in log_b and "resuming from" not in log_b
    assert (study / a / "checkpoint.pt.corrupt").exists() and (study / b / "checkpoint.prev.pt.corrupt").exists()
    assert_same_tables(study, undisturbed)


@pytest.mark.slow
def test_damaged_feature_files_are_set_aside_and_rebuilt(study, undisturbed):
    """Truncated and garbage feature files are set aside when the workflow starts and rebuilt in that run; a
    value-altered one is refused by the probe job that reads it (its digest) and rebuilt by the rerun."""
    import h5py

    truncated, garbage, altered = (res(study, "features", m, a, "shape.h5")
                                   for m, a in (("random", RESNET), ("random", MBV2), ("simclr", RESNET)))
    truncated.write_bytes(truncated.read_bytes()[:2000])
    garbage.write_bytes(garbage_bytes(5000))
    with h5py.File(altered, "r+") as f:
        f["test/features/prelogits"][0, 0] += 1.0

    r = snakemake(study, "--cores", "2", "--keep-going", check=False)
    assert r.returncode != 0
    for f in (truncated, garbage):
        assert (f"archssl: {f.relative_to(study)} is truncated or corrupt; moved to shape.h5.corrupt, it will be "
                f"rebuilt") in r.stderr
    log = logs(study, "probe")
    assert f"archssl: error: {altered.relative_to(study)}: " in log and "do not match the digest written with them" in log, log[-3000:]
    assert "set aside as shape.h5.corrupt: rerun to rebuild it" in log and "Traceback" not in log
    assert not altered.exists() and altered.with_name("shape.h5.corrupt").exists()
    rebuild(study)
    assert_same_tables(study, undisturbed)


@pytest.mark.slow
def test_a_garbage_or_altered_probe_result_is_named_set_aside_and_rebuilt(study, undisturbed):
    garbage, altered = res(study, "probes", "simclr", RESNET, "shape.json"), res(study, "probes", "random", MBV2,
                                                                                "textures.json")
    garbage.write_text('{"method": "simclr", "value": 0.2')
    doc = json.loads(altered.read_text())  # one accuracy moved, the file otherwise intact
    doc["results"][-1]["test"][doc["metric"]] += 0.04
    altered.write_text(json.dumps(doc))

    r = snakemake(study, "--cores", "2", "tables", check=False)
    assert r.returncode != 0
    log = res(study, "logs", "tables.log").read_text()
    # both named at once, one line each, after "archssl: error: "
    assert log.count("archssl: error: ") == 1, log[-3000:]
    assert f"{garbage.relative_to(study)}: not a valid probe result (invalid JSON: " in log
    assert f"{altered.relative_to(study)}: not a valid probe result (content differs from the digest written with it" in log
    assert "JSONDecodeError" not in log and "Traceback" not in log
    assert garbage.with_name("shape.json.corrupt").exists() and altered.with_name("textures.json.corrupt").exists()
    assert tables(study) == {}  # the failed job's tables were removed: nothing computed from them is kept
    rebuild(study)
    assert_same_tables(study, undisturbed)


@pytest.mark.slow
def test_an_out_of_range_parameter_is_refused_before_any_job_naming_the_key(study, undisturbed):
    cfg = yaml.safe_load((study / "micro.yaml").read_text())
    cfg["pretrain"]["method_params"]["simclr"]["temperature"] = -1
    write_config(study, cfg)
    r = snakemake(study, "--cores", "2", check=False)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "pretrain.method_params.simclr.temperature" in out and "-1" in out, out[-3000:]
    assert_same_tables(study, undisturbed)
    write_config(study, FAULTS)
    assert planned(study) == []


@pytest.mark.slow
def test_an_edited_loss_function_is_listed_by_status_with_the_command_that_reruns_it(study, undisturbed, tmp_path):
    """The edit is simulated on a copy of the package (the digest source: ``archssl.codedigest.PACKAGE``): SimCLR's
    loss is changed there, and `archssl status` and the report's status table run against that copy."""
    from archssl import codedigest

    assert res(undisturbed, "status.csv").read_text().strip() == "rule,path,why,rerun"  # nothing stale
    edited = tmp_path / "archssl"
    shutil.copytree(codedigest.PACKAGE, edited, ignore=shutil.ignore_patterns("__pycache__"))
    simclr = edited / "methods" / "simclr.py"
    simclr.write_text(simclr.read_text().replace("sim = z @ z.t() / temperature", "sim = z @ z.t() / (2 * temperature)"))
    code = (f"import archssl.codedigest as S; S.PACKAGE = __import__('pathlib').Path({str(edited)!r}); "
            f"from archssl.cli import main; main(['status', 'micro.yaml']); "
            f"main(['status', 'micro.yaml', '--csv', 'status_edited.csv'])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=study)
    assert r.returncode == 0, r.stderr[-3000:]
    backbones = [Path("results/pretrain/simclr") / a / "backbone.pt" for a in (RESNET, MBV2)]
    assert r.stdout.splitlines()[0] == "2 results were made by other code than today's:"
    for b in backbones:
        assert f"pretrain  {b}  (code " in r.stdout
    cmd = r.stdout.strip().splitlines()[-1].strip()
    assert cmd == f"snakemake --cores 2 --forcerun {backbones[0]} {backbones[1]}"
    rows = (study / "status_edited.csv").read_text().splitlines()
    assert len(rows) == 3 and all(row.endswith(cmd) for row in rows[1:])
    # the command does what it says: both simclr pretrainings and what follows from them
    jobs = planned(study, *cmd.split()[3:])
    assert sorted(w["arch"] for r_, w in jobs if r_ == "pretrain") == sorted([RESNET, MBV2])
    assert {w["method"] for _, w in jobs if "method" in w} == {"simclr"}
    # with today's code nothing is stale
    r = subprocess.run([str(BIN / "archssl"), "status", "micro.yaml"], capture_output=True, text=True, cwd=study)
    assert r.stdout.strip() == "every existing result was made by the code installed now", r.stdout + r.stderr


@pytest.mark.slow
def test_a_full_disk_fails_the_job_naming_the_file_and_keeps_nothing(study, undisturbed):
    """The simclr feature files are gone and their folder is a 256 kB disk: each features job fails with one
    line naming the file it was writing, and leaves nothing behind; with space again, the rerun finishes."""
    folder = res(study, "features", "simclr")
    shutil.rmtree(folder)
    folder.mkdir()
    with _mounted(folder, "256k"):  # (over the method's folder: snakemake removes the arch folders it made)
        r = snakemake(study, "--cores", "2", check=False)  # `all` asks for the feature files
        assert r.returncode != 0
        for arch in (RESNET, MBV2):
            log = res(study, "logs", "features", "simclr", f"{arch}.log").read_text()
            target = folder.relative_to(study) / arch
            assert f"archssl: error: no space left on the device writing {target}/" in log, (log[-2000:], r.stderr[-3000:])
            assert "Traceback" not in log and "Segmentation" not in log
        assert [p for p in folder.rglob("*") if p.is_file()] == []  # no partial file under any name
    rebuild(study)
    assert_same_tables(study, undisturbed)


@pytest.mark.slow
def test_a_second_concurrent_run_is_refused_and_the_first_finishes_cleanly(study, undisturbed):
    res(study, "features", "simclr", MBV2, "shape.h5").unlink()  # some work for the first run (`all` asks for it)
    first = subprocess.Popen([str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(study),
                              "--configfile", str(study / "micro.yaml"), "--cores", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not list((study / ".snakemake" / "locks").glob("*")):
        assert first.poll() is None and time.time() < deadline, "the first run never took its lock"
        time.sleep(0.1)
    second = snakemake(study, "--cores", "1", check=False)
    assert second.returncode != 0
    assert "Directory cannot be locked" in second.stdout + second.stderr
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    assert planned(study) == []
    assert_same_tables(study, undisturbed)


# ------------------------------------------------------------------------------------------------------------
# The checks themselves (archssl.integrity), on small files: each failure names the file and says what is wrong.


def _tiny_state():
    import torch

    g = torch.Generator().manual_seed(0)
    return {"format": 3, "epoch": 1, "metrics": [{"epoch": 1, "loss": float("nan")}],
            "model": {"w": torch.randn(4, 3, generator=g), "n": torch.tensor(7), "h": torch.randn(5, generator=g).half()},
            "optimizer": {"state": {0: {"momentum_buffer": torch.zeros(4, 3)}}, "param_groups": [{"lr": 0.1, "params": [0]}]}}


def test_a_sealed_torch_file_round_trips_and_any_change_is_caught(tmp_path):
    import torch

    from archssl.integrity import CorruptArtifact, content_digest, load_sealed, save_sealed

    path = save_sealed(_tiny_state(), tmp_path / "c.pt")
    state, verified = load_sealed(path, "checkpoint", finite=("model", "optimizer"))
    assert verified and torch.equal(state["model"]["w"], _tiny_state()["model"]["w"])
    assert content_digest(state) == content_digest(_tiny_state())  # the digest leaves itself out
    # an independent truth: changing any one value (a tensor element, a scalar, a metric) changes the digest
    for change in (lambda s: s["model"]["w"].view(-1)[5].add_(1e-6), lambda s: s.update(epoch=2),
                   lambda s: s["metrics"][0].update(loss=1.0), lambda s: s["optimizer"]["param_groups"][0].update(lr=0.2),
                   lambda s: s["model"].update(h=s["model"]["h"].float())):
        s = torch.load(path, weights_only=False)
        change(s)
        torch.save(s, tmp_path / "x.pt")
        with pytest.raises(CorruptArtifact, match=f"{tmp_path / 'x.pt'}: content differs from the digest written with it"):
            load_sealed(tmp_path / "x.pt", "checkpoint")


def test_nan_under_a_valid_digest_garbage_and_truncation_are_refused(tmp_path):
    import torch

    from archssl.integrity import CorruptArtifact, load_sealed, save_sealed

    s = _tiny_state()
    s["model"]["w"][1, 2] = float("nan")
    save_sealed(s, tmp_path / "nan.pt")
    with pytest.raises(CorruptArtifact, match=r"nan.pt: checkpoint holds NaN/inf values in model\.w$"):
        load_sealed(tmp_path / "nan.pt", "checkpoint", finite=("model",))
    (tmp_path / "g.pt").write_bytes(garbage_bytes(1000))
    with pytest.raises(CorruptArtifact, match=r"g.pt: not a readable checkpoint \(UnpicklingError"):
        load_sealed(tmp_path / "g.pt", "checkpoint")
    good = save_sealed(_tiny_state(), tmp_path / "t.pt").read_bytes()
    (tmp_path / "t.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CorruptArtifact, match=r"t.pt: not a readable checkpoint \("):
        load_sealed(tmp_path / "t.pt", "checkpoint")
    torch.save([1, 2], tmp_path / "l.pt")
    with pytest.raises(CorruptArtifact, match="holds a list, not a dict"):
        load_sealed(tmp_path / "l.pt", "checkpoint")


def test_an_old_backbone_without_a_digest_is_accepted_with_a_warning_and_listed_by_status(tmp_path, caplog):
    """Files from before digests: a backbone.pt is read (a warning names it; its structure and finiteness are
    still checked) and `archssl status` lists it as unverified; an old checkpoint is not resumed from."""
    import torch

    from archssl.archs import build
    from archssl.plan.stages import stage_digest
    from archssl.status import stale_artifacts
    from archssl.archs.checkpoint import load_backbone
    from archssl.catalog.archs import normalize

    spec = normalize({"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"})
    net = build(spec)
    d = tmp_path / "results" / "pretrain" / "random" / "a"
    d.mkdir(parents=True)
    torch.save({"format": 2, "spec": spec, "method": "random", "code_digest": stage_digest("pretrain", "random"),
                "state_dict": net.state_dict()}, d / "backbone.pt")
    with caplog.at_level("WARNING"):
        loaded, _ = load_backbone(d / "backbone.pt")
    assert f"{d / 'backbone.pt'}: archssl backbone file without a content digest" in caplog.text
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), net.state_dict().values()))
    targets = {"results": str(tmp_path / "results"), "runs": {"random": "random"}, "archs": ["a"], "downstream": []}
    assert stale_artifacts(targets) == [("pretrain", d / "backbone.pt", "no content digest: cannot be verified")]
    (d / "backbone.pt").write_bytes(b"garbage")
    assert stale_artifacts(targets)[0][2].startswith("unreadable (")


def test_a_checkpoint_that_fails_its_check_is_named_and_the_next_one_tried(tmp_path, caplog):
    import torch

    from archssl.integrity import save_sealed
    from archssl.train.loop import CKPT_FORMAT, _load_checkpoint

    base = {"format": CKPT_FORMAT, "fingerprint": "fp", "epoch": 1, "step": 0, "metrics": [],
            "model": {"w": torch.ones(2)}, "optimizer": {"state": {}, "param_groups": []}}
    save_sealed({**base, "model": {"w": torch.tensor([1.0, float("inf")])}}, tmp_path / "checkpoint.pt")
    save_sealed(base, tmp_path / "checkpoint.prev.pt")
    with caplog.at_level("WARNING"):
        found, bad = _load_checkpoint([tmp_path / "checkpoint.pt", tmp_path / "checkpoint.prev.pt"], "fp", "cpu")
    assert found[0] == tmp_path / "checkpoint.prev.pt" and bad == [tmp_path / "checkpoint.pt"]
    assert (f"{tmp_path / 'checkpoint.pt'}: checkpoint holds NaN/inf values in model.w; trying checkpoint.prev.pt"
            in caplog.text)
    torch.save({**base, "format": 2}, tmp_path / "checkpoint.prev.pt")  # an older archssl's: no digest
    caplog.clear()
    with caplog.at_level("WARNING"):
        found, bad = _load_checkpoint([tmp_path / "checkpoint.pt", tmp_path / "checkpoint.prev.pt"], "fp", "cpu")
    assert found is None and bad == [tmp_path / "checkpoint.pt"]
    assert "a checkpoint of an older archssl (format 2, no content digest) is not resumed from; starting from scratch" in caplog.text


def test_probe_results_metrics_and_specs_are_validated_naming_the_file(tmp_path):
    from archssl.integrity import CorruptArtifact, read_metrics, read_probe_result, read_spec, seal_json

    doc = seal_json({"method": "m", "arch": "a", "dataset": "d", "metric": "top1", "value": 0.5,
                     "results": [{"tap": "prelogits", "metric": "top1", "test": {"top1": 0.5}}]})
    p = tmp_path / "p.json"
    p.write_text(json.dumps(doc))
    assert read_probe_result(p)["results"][0]["test"]["top1"] == 0.5
    bad = {"garbage": "{not json", "a list": "[1]", "altered": json.dumps({**doc, "value": 0.6}),
           "out of range": json.dumps({**{k: v for k, v in doc.items() if k != "content_digest"},
                                       "results": [{"tap": "t", "metric": "top1", "test": {"top1": 1.5}}]}),
           "no results": json.dumps({"method": "m", "arch": "a", "dataset": "d"})}
    for why, text in bad.items():
        p.write_text(text)
        with pytest.raises(CorruptArtifact, match=f"^{p}: not a valid probe result \\("):
            read_probe_result(p)
    m = tmp_path / "metrics.csv"
    m.write_text("epoch,loss,lr\n1,0.5,0.1\n2,0.4,0.1\n")
    assert list(read_metrics(m)["epoch"]) == [1, 2]
    for text in ("", "epoch,loss\n2,0.5\n1,0.4\n", "epoch,loss\n1,abc\n", "x,y\n1,2\n", "\x00\x01garbage"):
        m.write_text(text)
        with pytest.raises(CorruptArtifact, match=f"^{m}: not a valid metrics CSV"):
            read_metrics(m)
    from archssl.catalog.archs import arch_id, normalize

    spec = normalize({"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"})
    s = tmp_path / f"{arch_id(spec)}.yaml"
    s.write_text(yaml.safe_dump(spec))
    assert read_spec(s, expect_id=arch_id(spec)) == spec
    s.write_text(yaml.safe_dump({**spec, "width": 8}))
    with pytest.raises(CorruptArtifact, match="its content is architecture .* not " + arch_id(spec)):
        read_spec(s, expect_id=arch_id(spec))
    s.write_text("family: [unclosed")
    with pytest.raises(CorruptArtifact, match=f"^{s}: not a valid architecture spec"):
        read_spec(s)
