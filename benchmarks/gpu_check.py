"""The steps of ``benchmarks/gpu_check.sh``: skface checked on a CUDA machine in one command.

``gpu_check.sh`` runs these subcommands, each under its own time limit, and collects
what they write; they can also be run by hand:

``prepare``
    Run where a package index and the UTKFace folder can be reached: downloads the wheels
    of skorch and of the test runner into ``.whl/`` and copies a seeded subset of UTKFace
    into ``.gl/UTKFace``, for a CUDA machine that reaches neither.
``install``
    Installs those wheels with pip from ``.whl/`` alone (no index): what is already
    installed and fits is kept.
``env``
    ``nvidia-smi`` and the versions of torch, CUDA and the rest.
``pytest``
    A pytest run with its counts (passed, skipped, failed) read from its JUnit report.
``fit``
    ``FaceAttributes`` with its defaults (or a larger network at a larger size) fitted on
    the subset, timed, and scored on a seeded held-back part; the default model is saved
    with joblib, beside the images and predictions that ``verify-model`` checks.
``verify-model``
    Loads a saved model in this process, which must then predict on the CPU, and compares
    its predictions with the ones saved beside it by the machine that fitted it.
``summary``
    Merges the steps' results into ``results.json`` and ``summary.md`` (markdown rows to
    paste into docs/benchmarks.md) and prints them.

Only ``summary`` and ``prepare`` work without skface importable.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEELS = REPO / ".whl"
SUBSET = REPO / ".gl"
CARRY = [".whl", ".gl"]
CARRY_LIMIT_MIB = 64
# skorch and its pure-Python requirements that a bare CUDA machine may lack, and the test
# runner with its requirements (exceptiongroup and tomli only before Python 3.11).
WHEEL_PACKAGES = ("skorch", "tabulate", "tqdm", "pytest", "pluggy", "iniconfig", "packaging",
                  "pygments", "pytest-timeout")
WHEEL_PACKAGES_OLD_PYTHON = ("exceptiongroup", "tomli")
INSTALL = ("skorch", "pytest", "pytest-timeout")  # what pip is asked for; the rest follow
DEFAULT_SOURCE = REPO.parent / "shared" / "datasets" / "UTKFace"
MODEL_NAME = "face_attributes_{device}.joblib"
VERIFY_NAME = "verify.npz"
FIT_COLUMNS = ["date", "machine", "device", "versions", "network", "px", "data",
               "train / test images", "epochs run", "precision", "decode s", "fit s",
               "train img/s", "age MAE", "gender acc", "race acc", "command"]
FIT_SECTION = "FaceAttributes fitted on a GPU (benchmarks/gpu_check.sh)"
FIT_INTRO = ("FaceAttributes fitted with its defaults (and with a larger network at a larger "
             "size) on a seeded subset of UTKFace copied to the GPU machine, scored on a "
             "seeded held-back fifth of it. 'train img/s' counts the training images of "
             "every epoch run, validation excluded, over the whole fit.")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)


def _mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) \
        if folder.is_dir() else 0


# ------------------------------------------------------------------------------ prepare

def _read_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def prepare_wheels(dest: Path = WHEELS) -> list[str]:
    """Download the wheels, pinned to the versions installed here, into ``dest``.

    The wheels an earlier run wrote (its MANIFEST.json) are replaced; anything else found
    there is reported, since pip on the GPU machine would see it too.
    """
    import tempfile

    dest.mkdir(exist_ok=True)
    manifest = dest / "MANIFEST.json"
    specs = [f"{n}=={_version(n)}" if _version(n) else n
             for n in (*WHEEL_PACKAGES, *WHEEL_PACKAGES_OLD_PYTHON)]
    with tempfile.TemporaryDirectory() as tmp:
        # pure-Python wheels only, so that any Python >= 3.10 on the GPU machine takes them
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                        "--only-binary=:all:", "--implementation", "py", "--abi", "none",
                        "--platform", "any", "--python-version", "3.10",
                        "--disable-pip-version-check", "--dest", tmp, *specs], check=True)
        for name in _read_manifest(manifest).get("files", []):
            (dest / name).unlink(missing_ok=True)
        files = sorted(os.listdir(tmp))
        for name in files:
            shutil.move(os.path.join(tmp, name), dest / name)
    (dest / "requirements.txt").write_text("\n".join(INSTALL) + "\n")
    _write_json(manifest, {"specs": specs, "files": files, "written": _now()})
    others = sorted(set(os.listdir(dest)) - set(files) - {"MANIFEST.json", "requirements.txt"})
    if others:
        print(f"warning: {dest} holds files this step did not write: {others}; pip may pick "
              "them up on the GPU machine: remove them", file=sys.stderr)
    return files


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _norm(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _wheel_name(filename: str) -> str:
    return _norm(filename.split("-")[0])


def _installed(name: str) -> bool:
    return _version(name) is not None


def select_subset(source: Path, n: int, seed: int) -> list[Path]:
    """``n`` well-named images of ``source``: a seeded sample of the sorted labelled files."""
    from skface.datasets import load_utkface

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed names are left out, as load_utkface does
        frame = load_utkface(source)
    frame = frame.sort_values("path").sample(n=min(n, len(frame)), random_state=seed)
    return [Path(p) for p in sorted(frame["path"])]


def prepare_subset(source: Path, n: int, seed: int, dest: Path = SUBSET) -> list[str]:
    """Copy the seeded subset into ``dest / "UTKFace"``; files an earlier run copied and no
    longer chosen are removed, anything else there stops the step."""
    if not source.is_dir():
        raise SystemExit(f"error: UTKFace folder {source} not found: pass --source DIR or set "
                         "SKFACE_UTKFACE_DIR")
    chosen = select_subset(source, n, seed)
    folder = dest / "UTKFace"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = dest / "MANIFEST.json"
    earlier = set(_read_manifest(manifest).get("files", []))
    names = {p.name for p in chosen}
    present = set(os.listdir(folder))
    foreign = sorted(present - earlier - names)
    if foreign:
        raise SystemExit(f"error: {folder} holds {len(foreign)} files this step did not copy "
                         f"(e.g. {foreign[0]!r}); empty or remove {folder} and run again")
    record = {"source": str(source), "n": len(chosen), "seed": seed,
              "rule": f"load_utkface(source).sort_values('path').sample(n={n}, "
                      f"random_state={seed})", "written": _now()}
    # listed before copying, so that an interrupted run's files are known to the next one
    _write_json(manifest, {**record, "files": sorted(earlier | names)})
    for name in sorted((earlier & present) - names):
        (folder / name).unlink()
    for path in chosen:
        target = folder / path.name
        if not target.exists() or target.stat().st_size != path.stat().st_size:
            shutil.copyfile(path, target)
    _write_json(manifest, {**record, "files": sorted(names)})
    return sorted(names)


def working_tree_bytes() -> int:
    """Bytes of the files that travel without being named: tracked and untracked, not ignored."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                         capture_output=True, check=True).stdout
    paths = [REPO / p for p in out.decode().split("\0") if p]
    return sum(p.stat().st_size for p in paths if p.is_file())


def cmd_prepare(args) -> int:
    if not args.no_wheels:
        files = prepare_wheels()
        print(f"{WHEELS}: {len(files)} wheels, {_mib(_tree_bytes(WHEELS))}")
    if not args.no_images:
        names = prepare_subset(args.source, args.n, args.seed)
        print(f"{SUBSET / 'UTKFace'}: {len(names)} images from {args.source}, "
              f"{_mib(_tree_bytes(SUBSET))}")
    tree = working_tree_bytes()
    total = tree + _tree_bytes(WHEELS) + _tree_bytes(SUBSET)
    print(f"working tree {_mib(tree)} + .whl {_mib(_tree_bytes(WHEELS))} + .gl "
          f"{_mib(_tree_bytes(SUBSET))} = {_mib(total)} (limit {CARRY_LIMIT_MIB} MiB)")
    print(f"carry: {json.dumps(CARRY)}")
    print("command: bash benchmarks/gpu_check.sh")
    if total > 0.9 * CARRY_LIMIT_MIB * 2**20:
        print(f"error: {_mib(total)} is too close to the {CARRY_LIMIT_MIB} MiB limit: prepare "
              "fewer images (--n)", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------------------ install

def cmd_install(args) -> int:
    """pip from the carried wheels only; skface itself runs from the working tree (the
    script puts it on PYTHONPATH), so the check always tests the code it travelled with.

    Where pip cannot install (no pip, an externally managed Python), the wheels of the
    missing packages are unpacked into ``--site`` instead, which the script then adds to
    PYTHONPATH (pure-Python wheels import from a plain folder).
    """
    result: dict = {"python": sys.version.split()[0]}
    if all(_installed(n) for n in INSTALL):
        result.update(wheels="nothing to install: " + ", ".join(
            f"{n} {_version(n)}" for n in INSTALL), ok=True)
        _write_json(args.json, result)
        print(result["wheels"])
        return 0
    req = WHEELS / "requirements.txt"
    if not req.is_file():
        print(f"error: {req} not found: run 'bash benchmarks/gpu_check.sh --prepare' first "
              "and carry .whl", file=sys.stderr)
        _write_json(args.json, {**result, "ok": False, "error": f"{req} missing"})
        return 1
    env = {**os.environ, "PIP_BREAK_SYSTEM_PACKAGES": "1", "PIP_ROOT_USER_ACTION": "ignore"}
    pip = [sys.executable, "-m", "pip", "install", "--no-index", "--disable-pip-version-check",
           "--no-input"]
    done = subprocess.run([*pip, "--find-links", str(WHEELS), "-r", str(req)], env=env)
    result["wheels"] = "pip, resolved from .whl" if done.returncode == 0 else "pip failed"
    missing = [f for f in _read_manifest(WHEELS / "MANIFEST.json").get("files", [])
               if not _installed(_wheel_name(f))]
    if done.returncode != 0 and missing:  # the wheels one by one, without resolving
        done = subprocess.run([*pip, "--no-deps", *(str(WHEELS / f) for f in missing)],
                              env=env)
        result["wheels"] += "; pip --no-deps " + ("ok" if done.returncode == 0 else "failed")
        missing = [f for f in missing if not _installed(_wheel_name(f))]
    if missing and args.site is not None:
        import zipfile

        args.site.mkdir(parents=True, exist_ok=True)
        for name in missing:
            with zipfile.ZipFile(WHEELS / name) as wheel:
                wheel.extractall(args.site)
        sys.path.append(str(args.site))
        result["wheels"] += f"; unpacked into {args.site}: {missing}"
    result["skface"] = f"runs from the working tree {REPO} (PYTHONPATH), not installed"
    result["versions"] = {n: _version(n) for n in WHEEL_PACKAGES}
    result["ok"] = _installed("skorch") and _installed("pytest")
    _write_json(args.json, result)
    print(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1


# ------------------------------------------------------------------------------ env

def _versions() -> dict:
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
           "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        out.update(gpu=torch.cuda.get_device_name(),
                   capability=".".join(map(str, torch.cuda.get_device_capability())),
                   bf16=torch.cuda.is_bf16_supported(),
                   gpu_memory_gib=round(torch.cuda.get_device_properties(0).total_memory
                                        / 2**30, 1))
    for name in ("skface", "skorch", "sklearn", "numpy", "pandas", "PIL", "accelerate",
                 "pytest"):
        try:
            out[name] = __import__(name).__version__
        except Exception as exc:
            out[name] = f"not importable: {type(exc).__name__}: {exc}"
    return out


def cmd_env(args) -> int:
    smi = shutil.which("nvidia-smi")
    text = subprocess.run([smi], capture_output=True, text=True, timeout=60).stdout \
        if smi else "nvidia-smi not found\n"
    versions = _versions()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _report

    versions["machine"] = _report.machine()
    args.txt.write_text(text + "\n" + json.dumps(versions, indent=1) + "\n")
    _write_json(args.json, versions)
    print(text)
    print(json.dumps(versions, indent=1))
    return 0 if (versions["cuda_available"] or args.cpu_ok) else 1


# ------------------------------------------------------------------------------ pytest

def cmd_pytest(args) -> int:
    import xml.etree.ElementTree as ET

    junit = args.json.with_suffix(".xml")
    cmd = [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider",
           f"--junitxml={junit}", *args.pytest_args]
    t0 = time.perf_counter()
    try:
        rc = subprocess.run(cmd, timeout=args.budget).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    result: dict = {"command": " ".join(cmd[1:]), "args": " ".join(args.pytest_args),
                    "returncode": rc,
                    "seconds": round(time.perf_counter() - t0, 1)}
    if junit.is_file():
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
        counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] \
            - counts["skipped"]
        result.update(counts)
        result["not passed"] = [
            f"{case.get('classname')}::{case.get('name')}: {child.tag}: "
            f"{(child.get('message') or '')[:200]}"
            for case in suite.iter("testcase") for child in case
            if child.tag in ("failure", "error", "skipped")]
    if args.fail_on_skip and rc == 0 and result.get("skipped", 0):
        print(f"error: {result['skipped']} tests skipped (here they must run)", file=sys.stderr)
        rc = 1
    result["ok"] = rc == 0
    _write_json(args.json, result)
    return rc if isinstance(rc, int) else 124


# ------------------------------------------------------------------------------ fit

def load_frame(data: Path, limit: int | None, seed: int):
    from skface.datasets import load_utkface

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = load_utkface(data)
    frame = frame.sort_values("path").reset_index(drop=True)
    if limit is not None and limit < len(frame):
        frame = frame.sample(n=limit, random_state=seed).sort_values("path")
    return frame.reset_index(drop=True)


def cmd_fit(args) -> int:
    import joblib
    import numpy as np
    import torch
    from sklearn.metrics import accuracy_score, mean_absolute_error
    from sklearn.model_selection import train_test_split

    from skface import FaceAttributes, ImageLoader

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _report

    frame = load_frame(args.data, args.limit, args.seed)
    train, test = train_test_split(frame, test_size=0.2, random_state=args.seed)
    tasks = ["age", "gender", "race"]
    params = {"random_state": args.seed}
    if args.module is not None:
        params["module"] = args.module
    if args.max_epochs is not None:
        params["max_epochs"] = args.max_epochs
    model = FaceAttributes(**params)
    size = args.size or ImageLoader().size
    loader = ImageLoader(size=size)
    t0 = time.perf_counter()
    X_train = loader.fit_transform(train["path"])
    X_test = loader.transform(test["path"])
    decode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.fit(X_train, train[tasks].reset_index(drop=True))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = model.predict(X_test)
    predict_s = time.perf_counter() - t0
    epochs = len(model.history)
    seen = len(train) * (1 - model.validation_fraction) * epochs
    device_label = model.device_ + (f" {torch.cuda.get_device_name()}"
                                    if model.device_.startswith("cuda") else "")
    result = {
        "label": args.label, "network": model.module if isinstance(model.module, str)
        else getattr(model.module, "__name__", str(model.module)),
        "px": size, "data": args.data_label, "data_dir": str(args.data),
        "train": len(train), "test": len(test),
        "epochs_run": epochs, "max_epochs": model.max_epochs, "device": device_label,
        "precision": "float32" if model.precision_ is None
        else str(model.precision_).replace("torch.", ""),
        "decode_s": round(decode_s, 2), "fit_s": round(fit_s, 2),
        "train_img_per_s": round(seen / fit_s, 1), "predict_s": round(predict_s, 3),
        "age_mae": float(mean_absolute_error(test["age"], pred["age"])),
        "gender_acc": float(accuracy_score(test["gender"], pred["gender"])),
        "race_acc": float(accuracy_score(test["race"], pred["race"])),
        "score": float(model.score(X_test, test[tasks].reset_index(drop=True))),
        "machine": _report.machine(), "versions": _report.versions("torch", "skorch", "skface"),
        "date": _now(),
    }
    if args.save:
        device = model.device_.split(":")[0]
        path = args.out / MODEL_NAME.format(device=device)
        joblib.dump(model, path, compress=3)
        k = min(args.n_verify, len(X_test))
        np.savez_compressed(args.out / VERIFY_NAME, X=X_test[:k],
                            names=np.array([Path(p).name for p in test["path"][:k]]),
                            age=pred["age"].to_numpy()[:k],
                            gender=pred["gender"].to_numpy()[:k],
                            race=pred["race"].to_numpy()[:k],
                            device=np.array(device_label))
        result.update(model_file=path.name, model_mib=round(path.stat().st_size / 2**20, 2),
                      verify_file=VERIFY_NAME, verify_images=k)
    _write_json(args.json, result)
    print(json.dumps(result, indent=1))
    return 0


# ------------------------------------------------------------------------------ verify

def verify_model(path: Path, images: Path | None = None, *, min_agreement: float = 0.9,
                 max_age_diff: float = 1.5) -> dict:
    """Load ``path`` here and predict on the images saved beside it; compare with the
    predictions the fitting machine saved."""
    import joblib
    import numpy as np

    images = images or path.with_name(VERIFY_NAME)
    saved = np.load(images)
    model = joblib.load(path)
    pred = model.predict(saved["X"])
    age_diff = np.abs(pred["age"].to_numpy() - saved["age"])
    agree = {t: float(np.mean(pred[t].to_numpy() == saved[t])) for t in ("gender", "race")}
    result = {
        "model": str(path), "fitted_on": str(saved["device"]), "device_here": model.device_,
        "images": len(saved["X"]), "mean_abs_age_diff": float(age_diff.mean()),
        "max_abs_age_diff": float(age_diff.max()), "gender_agreement": agree["gender"],
        "race_agreement": agree["race"],
    }
    result["ok"] = bool(model.device_ == "cpu" and min(agree.values()) >= min_agreement
                        and age_diff.mean() <= max_age_diff)
    rows = [f"{'image':<44}{'age there':>10}{'age here':>9}  gender there/here  race there/here"]
    for i in range(min(5, len(saved["X"]))):
        rows.append(f"{saved['names'][i]!s:<44}{saved['age'][i]:>10.1f}"
                    f"{pred['age'].iloc[i]:>9.1f}  {saved['gender'][i]!s:>8}/"
                    f"{pred['gender'].iloc[i]!s:<8}  {saved['race'][i]!s:>7}/"
                    f"{pred['race'].iloc[i]!s}")
    result["first_rows"] = rows
    return result


def cmd_verify(args) -> int:
    result = verify_model(args.model, args.images)
    print("\n".join(result["first_rows"]))
    print(json.dumps({k: v for k, v in result.items() if k != "first_rows"}, indent=1))
    print("verify-model: " + ("OK" if result["ok"] else "FAILED")
          + f" (loaded on {result['device_here']}; fitted on {result['fitted_on']})")
    if args.json:
        _write_json(args.json, result)
    return 0 if result["ok"] else 1


def cmd_synth(args) -> int:
    from skface.datasets import make_faces

    args.dest.mkdir(parents=True, exist_ok=True)
    make_faces(args.n, size=args.size, directory=args.dest, random_state=0)
    print(f"{args.n} synthetic faces at {args.size} px in {args.dest}")
    return 0


# ------------------------------------------------------------------------------ summary

def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _table(columns, rows) -> list[str]:
    return [_row(columns), "|" + "|".join("---" for _ in columns) + "|", *map(_row, rows)]


def summarize(out: Path, scratch: Path, mode: str, started: float | None = None,
              data_label: str | None = None) -> str:
    steps = []
    tsv = scratch / "steps.tsv"
    if tsv.is_file():
        for line in tsv.read_text().splitlines():
            name, status, seconds, budget = line.split("\t")
            steps.append({"step": name, "status": status, "seconds": float(seconds),
                          "budget": int(budget)})
    results = {"mode": mode, "date": _now(), "steps": steps}
    for step in steps:
        data = _load(scratch / f"{step['step']}.json")
        if data:
            results[step["step"]] = data
    _write_json(out / "results.json", results)

    lines = [f"# GPU check ({mode}), {results['date']}", "",
             "| step | status | seconds | budget s |", "|---|---|---|---|"]
    lines += [f"| {s['step']} | {s['status']} | {s['seconds']:.0f} | {s['budget']} |"
              for s in steps]
    env = results.get("env", {})
    if env:
        lines += ["", f"Device: {env.get('gpu', 'no CUDA GPU')}; torch {env.get('torch')}, "
                  f"CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}, Python {env.get('python')}"
                  f"; {env.get('machine', '')}"]
    for name in ("pytest-cuda", "pytest-accelerate"):
        t = results.get(name)
        if t:
            counts = ", ".join(f"{t.get(k, '?')} {k}" for k in ("passed", "skipped",
                                                               "failures", "errors"))
            lines += ["", f"`pytest {t.get('args', '')}`: {counts}"]
            lines += [f"- {x}" for x in t.get("not passed", [])][:20]
    command = "`bash benchmarks/gpu_check.sh" + (" --dry-run`" if mode == "dry-run" else "`")
    bench = _load(scratch / "bench.json")  # rewritten after each row: a cut-short run counts
    if bench.get("rows"):
        cells = []
        for row in bench["rows"]:  # this command (its bench options are in the script)
            c = dict(zip(bench["columns"], row["cells"], strict=True))
            c.update(command=command, **({"data": data_label} if data_label else {}))
            cells.append(list(c.values()))
        lines += ["", f"Rows for '## {bench['section']}' in docs/benchmarks.md:", ""]
        lines += _table(bench["columns"], cells)
    fits = [results[k] for k in ("fit-default", "fit-large") if results.get(k)]
    if fits:
        rows = [[f["date"], f["machine"], f["device"], f["versions"], f["network"], f["px"],
                 f["data"], f"{f['train']} / {f['test']}",
                 f"{f['epochs_run']} of {f['max_epochs']}", f["precision"],
                 f"{f['decode_s']:.1f}", f"{f['fit_s']:.1f}", f"{f['train_img_per_s']:.0f}",
                 f"{f['age_mae']:.2f}", f"{f['gender_acc']:.3f}", f"{f['race_acc']:.3f}",
                 command] for f in fits]
        lines += ["", f"Rows for a new section '## {FIT_SECTION}' in docs/benchmarks.md "
                  f"(intro: {FIT_INTRO}):", ""]
        lines += _table(FIT_COLUMNS, rows)
    v = results.get("verify-cpu")
    if v:
        mib = results.get("fit-default", {}).get("model_mib", "?")
        lines += ["", f"Saved model {Path(v['model']).name} ({mib} MiB) loaded in a process "
                  f"without CUDA: on {v['device_here']}, "
                  f"{v['images']} images: gender agreement {v['gender_agreement']:.3f}, "
                  f"race {v['race_agreement']:.3f}, mean |age difference| "
                  f"{v['mean_abs_age_diff']:.2f} years: {'OK' if v['ok'] else 'FAILED'}"]
    failed = [s["step"] for s in steps if s["status"] not in ("ok", "skipped: dry run")]
    passed = sum(s["status"] == "ok" for s in steps)
    total = f" in {time.time() - started:.0f} s" if started else ""
    dry = [s["step"] for s in steps if s["status"] == "skipped: dry run"]
    lines += ["", f"{passed} of {len(steps)} steps ok{total}"
              + (f"; skipped in a dry run: {', '.join(dry)}" if dry else "")
              + (f"; not ok: {', '.join(failed)}" if failed else "")]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def cmd_summary(args) -> int:
    text = summarize(args.out, args.scratch, args.mode, args.started, args.data_label)
    if not args.quiet:
        print(text)
    return 0


# ------------------------------------------------------------------------------ main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="download the wheels and copy the UTKFace subset")
    p.add_argument("--source", type=Path,
                   default=Path(os.environ.get("SKFACE_UTKFACE_DIR", DEFAULT_SOURCE)))
    p.add_argument("--n", type=int, default=4000, help="images in the subset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-wheels", action="store_true")
    p.add_argument("--no-images", action="store_true")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("install", help="pip install the carried wheels (no index)")
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--site", type=Path, default=None,
                   help="where to unpack the wheels if pip cannot install them")
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("env", help="nvidia-smi and versions")
    p.add_argument("--txt", type=Path, required=True)
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--cpu-ok", action="store_true", help="no CUDA is not a failure")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("pytest", help="pytest with counts from its JUnit report")
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--budget", type=float, default=None, help="seconds")
    p.add_argument("--fail-on-skip", action="store_true", help="a skipped test fails the step")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_pytest)

    p = sub.add_parser("fit", help="FaceAttributes fitted, timed and scored")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--label", default="default")
    p.add_argument("--data-label", default="UTKFace", help="what the images are, for the rows")
    p.add_argument("--module", default=None, help="network (default: the estimator's)")
    p.add_argument("--size", type=int, default=None, help="px (default: ImageLoader's)")
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="images (a seeded sample)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", action="store_true", help="save the model and verify images")
    p.add_argument("--n-verify", type=int, default=32)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("verify-model", help="load a saved model here and check it predicts")
    p.add_argument("model", type=Path)
    p.add_argument("--images", type=Path, default=None,
                   help=f"saved images and predictions (default: {VERIFY_NAME} beside it)")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("synth", help="write synthetic faces (when no images were carried)")
    p.add_argument("--dest", type=Path, required=True)
    p.add_argument("--n", type=int, default=120)
    p.add_argument("--size", type=int, default=64)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("summary", help="merge the results and print markdown rows")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--scratch", type=Path, required=True)
    p.add_argument("--mode", default="gpu")
    p.add_argument("--started", type=float, default=None)
    p.add_argument("--data-label", default=None, help="what the images were, for the rows")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_summary)

    args = parser.parse_args(argv)
    if getattr(args, "pytest_args", None) and args.pytest_args[0] == "--":
        args.pytest_args = args.pytest_args[1:]
    return args.func(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
