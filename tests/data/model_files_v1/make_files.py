"""How the frozen model files beside this script were written (format version 1).

They are kept as written, never regenerated: tests/test_safe_io.py loads them with the
current code and checks their outputs against ``expected.npz``, so that files written by
earlier versions of skface keep loading with the same predictions. Weights come from
tiny networks fitted for two epochs on skface's synthetic faces (no real photos).

Run from the repository root: ``python tests/data/model_files_v1/make_files.py``.
"""

from pathlib import Path

import numpy as np
from sklearn.pipeline import make_pipeline

from skface import (
    AgeBinner,
    AgeRegressor,
    FaceAttributes,
    GenderClassifier,
    ImageLoader,
    RaceClassifier,
    save_model,
)
from skface.datasets import make_faces

HERE = Path(__file__).resolve().parent


def main() -> None:
    X, y = make_faces(64, size=32, random_state=0)
    images = make_faces(8, size=32, random_state=1)[0]
    common = dict(random_state=0, max_epochs=2, module="skfacenet", module__width=4,
                  precision="float32", verbose=0, batch_size=32)
    models = {
        "gender_pipeline": (make_pipeline(ImageLoader(size=32), GenderClassifier(**common)),
                            y["gender"]),
        "race": (RaceClassifier(**common, tta=False), y["race"]),
        "age": (AgeRegressor(**common), y["age"]),
        "age_groups": (AgeBinner(**common, bins="decades"), y["age"]),
        "attributes": (FaceAttributes(**common), y[["age", "gender", "race"]]),
    }
    expected = {"images": images}
    for name, (model, target) in models.items():
        model.fit(X if name != "gender_pipeline" else list(X), target)
        est = model[-1] if hasattr(model, "steps") else model
        for key, value in est.predict_outputs(images).items():
            expected[f"{name}:{key}"] = value
        save_model(model, HERE / f"{name}.safetensors")
    np.savez(HERE / "expected.npz", **expected)


if __name__ == "__main__":
    main()
