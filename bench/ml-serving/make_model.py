"""The benchmark model: XGBoost, 100 trees of depth 6, on 20,000 rows of 40 numeric features (f0..f39), binary.

Writes into the directory given: model.json (XGBoost's JSON model); the 64 request bodies sent in rotation, one per
line, in each server's form (bodies-neuroplex.txt, bodies-fastapi.txt, bodies-mlserver.txt: the same rows); and
expected.json, XGBoost's own probability of class 1 for the first 8 of them (what every server must answer).
"""
import json
import sys

import numpy as np
import xgboost as xgb

out = sys.argv[1]
rng = np.random.default_rng(42)
X = rng.normal(size=(20_000, 40))
weights = rng.normal(size=40)
y = ((X @ weights + 0.5 * X[:, 0] * X[:, 1] + rng.normal(scale=2.0, size=20_000)) > 0).astype(int)
model = xgb.XGBClassifier(n_estimators=100, max_depth=6, learning_rate=0.1, tree_method="hist", n_jobs=2)
model.fit(X, y)
# Saved through the scikit-learn wrapper: the same booster JSON plus the attribute scikit_learn =
# {"_estimator_type": "classifier"}, without which mlserver-xgboost (which tries XGBRegressor first) loads a binary
# classifier as a regressor and refuses predict_proba.
model.save_model(f"{out}/model.json")
rows = rng.normal(size=(64, 40))
objects = [{f"f{i}": float(v) for i, v in enumerate(row)} for row in rows]


def write(name, bodies):
    with open(f"{out}/bodies-{name}.txt", "w") as file:
        for body in bodies:
            file.write(json.dumps(body, separators=(",", ":")) + "\n")


write("neuroplex", ({"model": "bench", "instances": [row]} for row in objects))
write("fastapi", ({"instances": [row]} for row in objects))
# The Open Inference Protocol: one FP64 tensor [1, 40]; asking for predict_proba alone (mlserver-xgboost's default
# output is predict, the label only; asking for both would evaluate the trees twice).
write("mlserver", ({"inputs": [{"name": "input-0", "shape": [1, 40], "datatype": "FP64", "data": [float(v) for v in row]}],
                    "outputs": [{"name": "predict_proba"}]} for row in rows))
json.dump([float(p) for p in model.predict_proba(rows[:8])[:, 1]], open(f"{out}/expected.json", "w"))
print(f"model: 100 trees, depth 6, 40 features, xgboost {xgb.__version__}; training accuracy {model.score(X, y):.3f}")
