"""ML parity peers: exports scikit-learn's bundled classification datasets with one fixed stratified split and
times the Python peers on them. Run through bench/ml-parity.sh, which provides the venv.

Every runner takes (dataset, train_csv, test_csv) and returns (accuracy, seconds) for one run, the seconds
covering the CSV read and the fit. With NEUROPLEX_URL and NEUROPLEX_KEY set (bench/ml-parity.sh starts a release
server), Neuroplex's learners run beside them through the API: upload, training job, validation on the test CSV.
"""
import argparse
import json
import os
import statistics
import sys
import time
import http.client
import urllib.parse
import uuid

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


CONNECTION = []


def connection():
    """One HTTP/1.1 connection, kept alive across requests as a client library keeps it (a new connection a
    request added ~0.35 ms to each of the three requests an upload and a job take)."""
    if not CONNECTION:
        url = urllib.parse.urlsplit(os.environ["NEUROPLEX_URL"])
        CONNECTION.append(http.client.HTTPConnection(url.hostname, url.port))
    return CONNECTION[0]


def send(method, path, data=None, content_type=None):
    headers = {"Authorization": "Bearer " + os.environ["NEUROPLEX_KEY"]}
    if data is not None:
        headers["Content-Type"] = content_type
    connection().request(method, path, body=data, headers=headers)
    answer = connection().getresponse()
    if answer.status >= 400:
        sys.exit(f"{method} {path}: {answer.status} {answer.read().decode(errors='replace')}")
    return answer


def api(method, path, body=None, raw=None, content_type="application/json"):
    """One request to the Neuroplex server named by NEUROPLEX_URL / NEUROPLEX_KEY; the decoded JSON answer."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    return json.loads(send(method, path, data, content_type).read() or b"null")


def wait_for(job):
    """Follows the job's log (Server-Sent Events) until its `end` event, which names the final status: the server
    ends the stream as soon as the job finishes, without the client polling."""
    stream = send("GET", f"/ml/jobs/{job}/logs?follow=true")
    ended, status = False, None
    # Read to the end of the stream (the server ends it after the end event), so that the connection is ready for
    # the next request.
    for line in stream:
        if line.startswith(b"event: end"):
            ended = True
        elif ended and line.startswith(b"data: ") and status is None:
            status = line[6:].strip().decode()
    if status is not None:
        return status
    sys.exit(f"the log of job {job} ended without its end event")


UPLOADED = {}


def upload(path):
    """Uploads a CSV and returns (dataset id, seconds the upload took: reading, parsing, profiling and storing
    the file)."""
    with open(path, "rb") as f:
        body = f.read()
    start = time.perf_counter()
    answer = api("POST", f"/ml/datasets/upload?name={os.path.basename(path)}&label={LABEL}", raw=body,
                 content_type="text/csv")
    return answer["id"], time.perf_counter() - start


def test_set(path):
    """The held-out CSV as a dataset, uploaded once (not timed)."""
    if path not in UPLOADED:
        UPLOADED[path] = upload(path)[0]
    return UPLOADED[path]


def neuroplex(algorithm, hyperparameters):
    """A Neuroplex learner through the API: the training CSV uploaded, a model trained as a job on all of it (no
    validation or test split: the test CSV is the held-out part, as for the peers), both timed, then validated on
    the test CSV uploaded as a second dataset. Each round uploads the training CSV anew — its dataset from the
    round before is deleted, as the store keeps one copy of the same content and would not ingest it again — so
    that every round pays for its own upload, as every round of the peers reads its CSV."""
    def run(name, train_csv, test_csv):
        test_id = test_set(test_csv)
        model = api("POST", "/ml/models", {"name": f"{name}-{algorithm}-{uuid.uuid4().hex[:8]}",
                                           "task": "classification", "algorithm": algorithm,
                                           "hyperparameters": hyperparameters, "label": LABEL})
        train_id, ingest = upload(train_csv)
        start = time.perf_counter()
        job = api("POST", f"/ml/models/{model['id']}/train",
                  {"datasetId": train_id, "split": {"validation": 0, "test": 0}})["jobId"]
        status = wait_for(job)
        seconds = time.perf_counter() - start + ingest
        if status != "succeeded":
            sys.exit(f"neuroplex {algorithm} on {name}: the job {status}: {api('GET', f'/ml/jobs/{job}')}")
        accuracy = api("POST", f"/ml/models/{model['id']}/validate", {"datasetId": test_id})["accuracy"]
        send("DELETE", f"/ml/datasets/{train_id}").read()
        return float(accuracy), seconds
    return run


RUNNERS = {
    "sklearn LogisticRegression (raw)": sklearn_logistic_raw,
    "sklearn LogisticRegression (standardised)": sklearn_logistic_standardised,
    "xgboost XGBClassifier": xgboost_classifier,
}
if os.environ.get("NEUROPLEX_URL"):
    RUNNERS["neuroplex logistic_regression (standardised)"] = neuroplex("logistic_regression", {})
    RUNNERS["neuroplex xgboost"] = neuroplex("xgboost", {"n_estimators": 100, "random_state": SEED})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="folder for the exported CSVs")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import warnings

    warnings.filterwarnings("ignore")  # lbfgs's ConvergenceWarning on raw features: the figure says enough
    print(f"python {sys.version.split()[0]}, scikit-learn {sklearn.__version__}, xgboost {xgboost.__version__}, "
          f"pandas {pd.__version__}; split: stratified, test_size={TEST_SIZE}, random_state={SEED}")
    if os.environ.get("NEUROPLEX_URL"):
        # The server has only just started; its first upload pays one-time costs (opening the transaction
        # connection, the blob store's folders) that belong to no dataset: a small file of its own takes them, as
        # the peers' imports are done before their clocks start.
        warm_up = f"{args.out}/warm-up.csv"
        with open(warm_up, "w") as out:
            out.write("x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
        upload(warm_up)
    results = {}
    print(f"{'dataset':<14} {'rows':>5} {'feat':>4} {'cls':>3}  {'peer':<44} {'accuracy':>8} {'fit s (median)':>15}")
    for name in DATASETS:
        train_csv, test_csv = export(name, args.out)
        x, y = read(train_csv)
        rows = len(y) + len(read(test_csv)[1])
        # Rounds interleaved (every runner once a round, in turn forwards and backwards), so that the machine's
        # drift during a run (this VM's speed moves by tens of per cent within minutes) falls on all alike. A
        # pause between runners lets the last one's threads settle (libgomp's spin after an xgboost fit).
        all_runs = {peer: [] for peer in RUNNERS}
        order = list(RUNNERS.items())
        for round_index in range(args.rounds):
            for peer, run in order if round_index % 2 == 0 else reversed(order):
                time.sleep(0.05)
                all_runs[peer].append(run(name, train_csv, test_csv))
        for peer in RUNNERS:
            runs = all_runs[peer]
            print(f"  ({peer} on {name}, each round: {' '.join(f'{r[1]:.4f}' for r in runs)} s)", file=sys.stderr)
            accuracy = runs[0][0]
            seconds = statistics.median(r[1] for r in runs)
            results.setdefault(name, {})[peer] = {"accuracy": accuracy, "seconds": seconds}
            print(f"{name:<14} {rows:>5} {x.shape[1]:>4} {len(set(y)):>3}  {peer:<44} {accuracy:>8.4f} {seconds:>15.4f}")
        if "neuroplex xgboost" in all_runs:
            paired = sorted(n[1] / p[1] for n, p in zip(all_runs["neuroplex xgboost"], all_runs["xgboost XGBClassifier"]))
            print(f"  {name}: neuroplex xgboost / XGBClassifier, the median of the rounds' ratios: "
                  f"{statistics.median(paired):.2f}x (rounds {' '.join(f'{r:.2f}' for r in paired)})")
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
