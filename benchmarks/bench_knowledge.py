"""Face knowledge on UTKFace: face-recognition descriptors, the pretrained networks, and
their combinations (skface's stacks), on bench_accuracy.py's fixed split.

The split is bench_accuracy.py's (``train_test_split(test_size=0.2, random_state=0)``
over the well-named images sorted by path); ``--tune`` screens on its dev split (a
fifth of the train part, ``random_state=1``) and never reads the test part.

Embedding every image is the slow part (about 60-110 ms of one CPU core per image), so
the descriptors are computed once and kept in ``--cache`` (a folder outside the
repository; by default ``~/.cache/skface/benchmarks``), keyed by the SHA-256 of each
file's bytes (a copy of the folder elsewhere, or with new modification times, reuses
them); the CPU seconds they cost are kept with them and counted in every
row's total.

Run: ``python benchmarks/bench_knowledge.py --data ../shared/datasets/UTKFace [--tune]
[--write]``; ``--stage features`` only computes the descriptors.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report
import bench_accuracy
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.ensemble import StackingClassifier, StackingRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import SVC, SVR

import skface
from skface import FaceEmbedder, PretrainedFaceAttributes
from skface._recipes import RECIPE_TASKS

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "skface" \
    / "benchmarks"


def _key(path: str) -> str:
    """What a stored result is found by: the file's content, not its name or time."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def descriptors(paths: list[str], cache: Path, align: bool = True, n_jobs: int | None = None
                ) -> tuple[np.ndarray, float]:
    """Descriptors of ``paths`` (computing the missing ones) and the CPU seconds that all
    of them cost when they were computed."""
    cache.mkdir(parents=True, exist_ok=True)
    store = cache / f"utkface_descriptors_{'aligned' if align else 'square'}.npz"
    known: dict[str, tuple[np.ndarray, float]] = {}
    if store.exists():
        with np.load(store, allow_pickle=False) as f:
            for k, d, s in zip(f["keys"], f["descriptors"], f["seconds"], strict=True):
                known[str(k)] = (d, float(s))
    keys = [_key(p) for p in paths]
    missing = [p for p, k in zip(paths, keys, strict=True) if k not in known]
    if missing:
        t0 = time.perf_counter()
        found = FaceEmbedder(align=align, n_jobs=n_jobs, cache=False,
                             progress=True).fit_transform(missing)
        wall = time.perf_counter() - t0
        # the embedding processes keep every core busy: CPU time is wall time x cores
        per_image = wall * (os.cpu_count() or 1) / len(missing)
        print(f"embedded {len(missing)} images in {wall:.0f} s "
              f"({per_image * 1000:.0f} CPU-ms each)", flush=True)
        for p, d in zip(missing, found, strict=True):
            known[_key(p)] = (d, per_image)
        all_keys = sorted(known)
        tmp = store.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(all_keys), descriptors=np.stack(
            [known[k][0] for k in all_keys]), seconds=np.array([known[k][1] for k in all_keys]))
        os.replace(tmp, store)
    X = np.stack([known[k][0] for k in keys])
    return X, float(sum(known[k][1] for k in keys))


def pretrained_outputs(paths: list[str], cache: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """The pretrained networks' age (81) and gender (male, female) probabilities of
    ``paths`` and the CPU seconds they cost, kept in ``cache`` like the descriptors."""
    store = cache / "utkface_pretrained.npz"
    known: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    if store.exists():
        with np.load(store, allow_pickle=False) as f:
            for k, a, g, s in zip(f["keys"], f["age"], f["gender"], f["seconds"], strict=True):
                known[str(k)] = (a, g, float(s))
    keys = [_key(p) for p in paths]
    missing = [p for p, k in zip(paths, keys, strict=True) if k not in known]
    if missing:
        c0 = time.process_time()
        out = PretrainedFaceAttributes().predict_outputs(missing)
        per_image = (time.process_time() - c0) / len(missing)
        print(f"pretrained networks on {len(missing)} images: {per_image * 1000:.1f} "
              "CPU-ms each", flush=True)
        for p, a, g in zip(missing, out["age_probabilities"], out["gender_probabilities"],
                           strict=True):
            known[_key(p)] = (a, g, per_image)
        all_keys = sorted(known)
        tmp = store.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(all_keys),
                 age=np.stack([known[k][0] for k in all_keys]),
                 gender=np.stack([known[k][1] for k in all_keys]),
                 seconds=np.array([known[k][2] for k in all_keys]))
        os.replace(tmp, store)
    return (np.stack([known[k][0] for k in keys]), np.stack([known[k][1] for k in keys]),
            float(sum(known[k][2] for k in keys)))


# Every feature row is [128 descriptors | 81 age probabilities | 2 gender probabilities]:
# the members below read their columns, so that a stack over these rows does what
# make_stack's members do over images (whose descriptors and network outputs these are).
DESC = slice(0, 128)
AGE = slice(128, 209)
GENDER = slice(209, 211)
AGES = skface.PretrainedAgeRegressor.ages


def _columns(part: slice) -> FunctionTransformer:
    return FunctionTransformer(lambda X: X[:, part])


class _GenderNetwork(ClassifierMixin, BaseEstimator):
    """The pretrained gender network's probabilities, read from the feature rows."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return X[:, GENDER][:, self.classes_]

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


class _AgeNetwork(RegressorMixin, BaseEstimator):
    """The pretrained age network's expected age, read from the feature rows."""

    def fit(self, X, y):
        return self

    def predict(self, X):
        return X[:, AGE] @ AGES


# The learners screened on the descriptors (the dev split picks one per task)
GRID = {
    "gender": [SVC(C=c) for c in (1, 3, 10, 30)],
    "race": [SVC(C=c) for c in (1, 3, 10, 30)],
    "age": [SVR(C=c, epsilon=1.0) for c in (10, 30, 100, 300)],
}


def _name(learner) -> str:
    params = ", ".join(f"{k}={v}" for k, v in learner.get_params().items()
                       if k in ("C", "epsilon"))
    return f"{type(learner).__name__}({params})"


def _network(task: str):
    """The pretrained network's member for ``task``, or None (race has none)."""
    return {"gender": _GenderNetwork(), "age": _AgeNetwork()}.get(task)


def _stack(task: str, learner):
    """make_stack's shape: the embedding member, the network where there is one, and a
    logistic (ridge) regression on their out-of-fold predictions, 5 folds."""
    members = [("embedding", make_pipeline(_columns(DESC), clone(learner)))]
    if _network(task) is not None:
        members.append(("pretrained", _network(task)))
    if task == "age":
        return StackingRegressor(members, RidgeCV(), cv=5)
    return StackingClassifier(members, LogisticRegression(max_iter=1000), cv=5)


def cnn_stack(task: str, learner, epochs: int, cv: int, train, test, X_train, X_test,
              y_train) -> tuple[np.ndarray, float]:
    """make_stack(task, cnn=True, cv=cv)'s predictions on the test rows, and its CPU
    seconds: what StackingClassifier/Regressor compute, member by member (the feature
    members read their columns, the CNN reads the images): out-of-fold predictions on the
    same folds, the final model on them, every member refitted on all the train rows."""
    from sklearn.model_selection import check_cv, cross_val_predict

    from skface import ImageLoader

    classifier = task != "age"
    folds = list(check_cv(cv, y_train, classifier=classifier).split(X_train, y_train))
    cnn = make_pipeline(ImageLoader(), {"gender": skface.GenderClassifier,
                                        "race": skface.RaceClassifier,
                                        "age": skface.AgeRegressor}[task](
        random_state=0, max_epochs=epochs, verbose=0))
    members = [(make_pipeline(_columns(DESC), clone(learner)), X_train, X_test)]
    if _network(task) is not None:
        members.append((_network(task), X_train, X_test))
    members.append((cnn, np.asarray(train["path"]), np.asarray(test["path"])))
    c0, w0 = time.process_time(), time.perf_counter()
    seen, unseen = [], []
    for model, A, B in members:
        method = "predict"
        if classifier:
            method = "predict_proba" if hasattr(model, "predict_proba") else \
                "decision_function"
        oof = cross_val_predict(clone(model), A, y_train, cv=folds, method=method)
        fitted = clone(model).fit(A, y_train)
        out = getattr(fitted, method)(B)
        if classifier and method == "predict_proba" and oof.shape[1] == 2:
            oof, out = oof[:, 1:], out[:, 1:]
        seen.append(np.asarray(oof).reshape(len(A), -1))
        unseen.append(np.asarray(out).reshape(len(B), -1))
    final = RidgeCV() if not classifier else LogisticRegression(max_iter=1000)
    final.fit(np.hstack(seen), y_train)
    pred = final.predict(np.hstack(unseen))
    # the CNN trains with torch's threads on every core: count wall time x cores for it
    cpu = max(time.process_time() - c0, (time.perf_counter() - w0) * (os.cpu_count() or 1))
    return pred, cpu


def _better(task: str, a: float, b: float) -> bool:
    return a < b if task == "age" else a > b


def score(task: str, model, X_train, y_train, X_test, y_test) -> tuple[float, float]:
    """(figure, CPU seconds of fit and predict): accuracy, or MAE in years for age."""
    c0 = time.process_time()
    model = clone(model).fit(X_train, y_train)
    pred = model.predict(X_test)
    seconds = time.process_time() - c0
    if task == "age":
        return float(np.abs(pred - y_test).mean()), seconds
    return float((pred == y_test).mean()), seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=bench_accuracy.DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--stage", choices=["features", "all"], default="all")
    parser.add_argument("--square", action="store_true",
                        help="FaceEmbedder(align=False) instead of the aligned default")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--tasks", nargs="+", default=["gender", "race", "age"],
                        choices=["gender", "race", "age"])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--cnn-epochs", type=int, default=0,
                        help="also stack the task's CNN trained for this many epochs")
    parser.add_argument("--cnn-cv", type=int, default=3,
                        help="folds of the stack with the CNN (each costs a CNN training)")
    args = parser.parse_args(argv)
    train, test = bench_accuracy.split(args.data, args.limit, args.tune)
    paths = sorted(set(train["path"]) | set(test["path"]))
    X, seconds = descriptors(paths, args.cache, align=not args.square)
    print(f"{len(paths)} descriptors, {seconds:.0f} CPU-s in all", flush=True)
    if args.stage == "features":
        return 0
    age_p, gender_p, net_seconds = pretrained_outputs(paths, args.cache)
    features = dict(zip(paths, np.hstack([X, age_p, gender_p]), strict=True))
    X_train = np.stack([features[p] for p in train["path"]])
    X_test = np.stack([features[p] for p in test["path"]])
    # CPU seconds of the features of the images the rows use (train and test parts)
    feature_seconds = (seconds + net_seconds) / len(paths) * (len(train) + len(test))
    part = "dev" if args.tune else "test"
    # which descriptors: FaceEmbedder(align=False) or the aligned default
    desc = "square descriptors" if args.square else "descriptors"

    def run(task: str, name: str, model) -> float:
        figure, fit_seconds = score(task, model, X_train, y_train, X_test, y_test)
        # with --cnn-epochs only the stack with the CNN is recorded (the others were)
        return report(task, name, figure, fit_seconds, write=not args.cnn_epochs)

    def report(task: str, name: str, figure: float, fit_seconds: float,
               write: bool = True) -> float:
        shown = f"{figure:.2f}" if task == "age" else f"{figure:.2%}"
        total = feature_seconds + fit_seconds
        print(f"{part} {task:6s} {shown:>7s}  {name}  (fit+predict {fit_seconds:.0f} CPU-s, "
              f"with features {total / 60:.0f} CPU-min)", flush=True)
        if write and args.write and not args.limit:
            _report.append_history(
                f"Face knowledge on the {part} part (benchmarks/bench_knowledge.py)",
                INTRO[part], COLUMNS,
                [_report.today(), _report.machine(),
                 _report.versions("sklearn", "dlib", "onnxruntime"), task, name,
                 f"{len(train):,} / {len(test):,}",
                 "MAE (years)" if task == "age" else "accuracy", shown,
                 f"{fit_seconds / 60:.1f}", f"{total / 60:.0f}",
                 f"`{_report.command()}`"])
        return figure

    for task in args.tasks:
        kind = float if task == "age" else int
        y_train = train[task].to_numpy().astype(kind)
        y_test = test[task].to_numpy().astype(kind)
        if args.tune:  # the learner on the descriptors, chosen here
            best = None
            for learner in GRID[task]:
                figure = run(task, f"{_name(learner)} on {desc}",
                             make_pipeline(_columns(DESC), learner))
                if best is None or _better(task, figure, best[0]):
                    best = (figure, learner)
            learner = best[1]
        else:  # make_stack's own
            learner = RECIPE_TASKS[task][1]()
            run(task, f"{_name(learner)} on {desc}", make_pipeline(_columns(DESC), learner))
        if _network(task) is not None:
            run(task, "pretrained network alone", _network(task))
        members = desc + (" + pretrained network" if _network(task) is not None else "")
        run(task, f"stack: {_name(learner)} on {members} (make_stack's shape)",
            _stack(task, learner))
        if args.cnn_epochs:
            pred, fit_seconds = cnn_stack(task, learner, args.cnn_epochs, args.cnn_cv, train,
                                          test, X_train, X_test, y_train)
            figure = float(np.abs(pred - y_test).mean() if task == "age"
                           else (pred == y_test).mean())
            report(task, f"stack: {_name(learner)} on {members} + the task's CNN "
                   f"({args.cnn_epochs} epochs), {args.cnn_cv} folds "
                   f"(make_stack(cnn=True, cv={args.cnn_cv}))", figure, fit_seconds)
    return 0


COLUMNS = ["date", "machine", "versions", "task", "setting", "train / scored",
           "metric", "figure", "fit+predict (CPU-min)", "total with features (CPU-min)",
           "command"]
INTRO = {
    "dev": """Settings screened for the recipes of `skface.make_stack`, on bench_accuracy.py's dev
split (a fifth of the train part, `random_state=1`; the test part is not read). Every
image's face-recognition descriptors (`FaceEmbedder()`, aligned, or "square":
`FaceEmbedder(align=False)`, the central square of the crop) and pretrained network
outputs are computed once and reused by every setting; a stack's members read their
columns, which is what make_stack's members compute from the images. "Total" adds the
CPU time of those features for the images used.""",
    "test": """The recipes chosen on the dev split, trained on the train part of the fixed split
and scored once on its test part (3,796 images), beside the defaults of
`bench_accuracy.py` (a single CNN, about 15-20 minutes on these 2 cores). "Total" is the
CPU time of the whole recipe: the descriptors and network outputs of every image plus
fitting and predicting.""",
}


if __name__ == "__main__":
    raise SystemExit(main())
