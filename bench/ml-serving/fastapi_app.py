"""The seed 004 stack: FastAPI + uvicorn + xgboost, serving the benchmark model one request at a time.

POST /predict {"instances": [{"f0": ..., ..., "f39": ...}]} -> {"predictions": [{"label", "probabilities", "confidence"}]}
"""
import os

import numpy as np
import xgboost as xgb
from fastapi import FastAPI
from pydantic import BaseModel

FEATURES = [f"f{i}" for i in range(40)]
booster = xgb.Booster()
booster.load_model(os.environ["MODEL_PATH"])
booster.set_param({"nthread": 1})
app = FastAPI()


class PredictRequest(BaseModel):
    instances: list[dict[str, float]]


@app.post("/predict")
def predict(request: PredictRequest):
    matrix = np.array([[row[name] for name in FEATURES] for row in request.instances], dtype=np.float32)
    probabilities = booster.inplace_predict(matrix)
    return {"predictions": [
        {"label": int(p > 0.5), "probabilities": [float(1 - p), float(p)], "confidence": float(max(p, 1 - p))}
        for p in probabilities
    ]}
