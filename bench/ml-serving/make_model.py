"""The benchmark model: XGBoost, 100 trees of depth 6, on 20,000 rows of 40 numeric features (f0..f39), binary.

Writes model.json (XGBoost's JSON model), rows.json (64 rows to send, as objects) and rows_v2.json (the same rows
as 40-value lists, for the Open Inference Protocol) into the directory given.
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
model.get_booster().save_model(f"{out}/model.json")
rows = rng.normal(size=(64, 40))
json.dump([{f"f{i}": float(v) for i, v in enumerate(row)} for row in rows], open(f"{out}/rows.json", "w"))
json.dump([[float(v) for v in row] for row in rows], open(f"{out}/rows_v2.json", "w"))
print(f"model: 100 trees, depth 6, 40 features; training accuracy {model.score(X, y):.3f}")
