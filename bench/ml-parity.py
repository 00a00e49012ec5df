"""ML parity peers: exports scikit-learn's bundled classification datasets with one fixed stratified split and
times the Python peers on them. Run through bench/ml-parity.sh, which provides the venv.

Every runner takes (dataset, train_csv, test_csv, label) and returns (accuracy, seconds) for one run, the seconds
covering the CSV read and the fit; a new peer (Neuroplex through its API, once training runs there) is one more
function in RUNNERS.
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np
import pandas as pd
import sklearn
import xgboost
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

LABEL = "label"
SEED = 42
TEST_SIZE = 0.25
DATASETS = {"breast_cancer": load_breast_cancer, "digits": load_digits, "wine": load_wine}


def export(name, out):
    """Writes <name>-train.csv and <name>-test.csv (features as f0..fN, then `label`); returns their paths."""
    data = DATASETS[name]()
    frame = pd.DataFrame(data.data, columns=[f"f{i}" for i in range(data.data.shape[1])])
    frame[LABEL] = data.target
    train, test = train_test_split(frame, test_size=TEST_SIZE, random_state=SEED, stratify=frame[LABEL])
    paths = f"{out}/{name}-train.csv", f"{out}/{name}-test.csv"
    train.to_csv(paths[0], index=False)
    test.to_csv(paths[1], index=False)
    return paths


def read(path):
    frame = pd.read_csv(path)
    return frame.drop(columns=[LABEL]).to_numpy(), frame[LABEL].to_numpy()


def timed_fit(model, train_csv, test_csv):
    start = time.perf_counter()
    x, y = read(train_csv)
    model.fit(x, y)
    seconds = time.perf_counter() - start
    test_x, test_y = read(test_csv)
    return float(np.mean(model.predict(test_x) == test_y)), seconds


def sklearn_logistic_raw(name, train_csv, test_csv):
    return timed_fit(LogisticRegression(), train_csv, test_csv)


def sklearn_logistic_standardised(name, train_csv, test_csv):
    return timed_fit(make_pipeline(StandardScaler(), LogisticRegression()), train_csv, test_csv)


def xgboost_classifier(name, train_csv, test_csv):
    return timed_fit(xgboost.XGBClassifier(n_estimators=100, random_state=SEED, n_jobs=0), train_csv, test_csv)


def unsupervised(train_csv, test_csv):
    """k-means (k = the class count, on standardised features) and an isolation forest (raw features), with
    default hyperparameters: k-means' training inertia and the forest's mean anomaly score on the test rows
    (-score_samples, Neuroplex's sign), each with its median fit time (CSV read included)."""
    figures = {}
    start = time.perf_counter()
    x, y = read(train_csv)
    scaled = StandardScaler().fit_transform(x)
    kmeans = KMeans(n_clusters=len(set(y)), random_state=SEED).fit(scaled)
    figures["sklearn KMeans (standardised, k = classes)"] = {
        "inertia": float(kmeans.inertia_), "seconds": time.perf_counter() - start}
    start = time.perf_counter()
    x, _ = read(train_csv)
    forest = IsolationForest(random_state=SEED).fit(x)
    seconds = time.perf_counter() - start
    figures["sklearn IsolationForest"] = {
        "mean_test_score": float(-forest.score_samples(read(test_csv)[0]).mean()), "seconds": seconds}
    return figures


RUNNERS = {
    "sklearn LogisticRegression (raw)": sklearn_logistic_raw,
    "sklearn LogisticRegression (standardised)": sklearn_logistic_standardised,
    "xgboost XGBClassifier": xgboost_classifier,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="folder for the exported CSVs")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import warnings

    warnings.filterwarnings("ignore")  # lbfgs's ConvergenceWarning on raw features: the figure says enough
    print(f"python {sys.version.split()[0]}, scikit-learn {sklearn.__version__}, xgboost {xgboost.__version__}, "
          f"pandas {pd.__version__}; split: stratified, test_size={TEST_SIZE}, random_state={SEED}")
    results = {}
    print(f"{'dataset':<14} {'rows':>5} {'feat':>4} {'cls':>3}  {'peer':<44} {'accuracy':>8} {'fit s (median)':>15}")
    for name in DATASETS:
        train_csv, test_csv = export(name, args.out)
        x, y = read(train_csv)
        rows = len(y) + len(read(test_csv)[1])
        for peer, run in RUNNERS.items():
            runs = [run(name, train_csv, test_csv) for _ in range(args.rounds)]
            accuracy = runs[0][0]
            seconds = statistics.median(r[1] for r in runs)
            results.setdefault(name, {})[peer] = {"accuracy": accuracy, "seconds": seconds}
            print(f"{name:<14} {rows:>5} {x.shape[1]:>4} {len(set(y)):>3}  {peer:<44} {accuracy:>8.4f} {seconds:>15.4f}")
    print(f"{'dataset':<14}  {'unsupervised peer':<44} {'figure':>24} {'fit s':>8}")
    for name in DATASETS:
        for peer, figure in unsupervised(f"{args.out}/{name}-train.csv", f"{args.out}/{name}-test.csv").items():
            results[name][peer] = figure
            (key, value), = ((k, v) for k, v in figure.items() if k != "seconds")
            print(f"{name:<14}  {peer:<44} {key + ' ' + format(value, '.4f'):>24} {figure['seconds']:>8.4f}")
    # For the Swift side's parity check (Tests/NeuroplexMLTests/LearnerParityTests.swift).
    with open(f"{args.out}/results.json", "w") as out:
        json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
