"""Sentinel's model, trained on the lab's training capture and evaluated on its later test capture, through the
server's API (bench/sentinel-ml.sh starts the server): captures → labelled flow datasets (POST /sentinel/datasets,
labels from the lab's manifests; features without addresses, source ports or times) → XGBoost → per-class
precision/recall/F1 on the test capture, macro-F1 and the benign false-positive rate, on all its flows and on its
distinct rows (identical flows, common in floods and scans, counted once). Then the full pipeline's speed:
a synthetic capture uploaded with and without the model, timed from the capture's own start and finish stamps."""
import argparse
import datetime
import json
import os
import sys
import time
import urllib.request


def api(method, path, body=None, raw=None, content_type="application/json", text=False):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(os.environ["NEUROPLEX_URL"] + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + os.environ["NEUROPLEX_KEY"])
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request) as answer:
            content = answer.read()
            return content.decode() if text else json.loads(content or b"null")
    except urllib.error.HTTPError as error:
        sys.exit(f"{method} {path}: {error.code} {error.read()[:300]!r}")


def analysed(path, model=None):
    with open(path, "rb") as f:
        body = f.read()
    query = f"?name={os.path.basename(path)}" + (f"&model={model}" if model else "")
    capture = api("POST", "/sentinel/captures" + query, raw=body, content_type="application/vnd.tcpdump.pcap")
    while capture["status"] not in ("succeeded", "failed"):
        time.sleep(0.2)
        capture = api("GET", f"/sentinel/captures/{capture['id']}")
    if capture["status"] != "succeeded":
        sys.exit(f"capture {path} failed: {capture.get('error')}")
    return capture


def seconds(stamp):
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def wait_job(job):
    while True:
        status = api("GET", f"/ml/jobs/{job}")["status"]
        if status in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.2)


def report(result, title):
    labels, matrix = result["confusionMatrix"]["labels"], result["confusionMatrix"]["matrix"]
    print(f"\n{title}:")
    print("| class | flows (test) | precision | recall | F1 |\n|---|---:|---:|---:|---:|")
    f1s = []
    for i, label in enumerate(labels):
        support = sum(matrix[i])
        predicted = sum(row[i] for row in matrix)
        tp = matrix[i][i]
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if support:
            f1s.append(f1)
        print(f"| {label} | {support} | {precision:.4f} | {recall:.4f} | {f1:.4f} |")
    macro = sum(f1s) / len(f1s)
    benign = labels.index("benign") if "benign" in labels else None
    fpr = (1 - matrix[benign][benign] / sum(matrix[benign])) if benign is not None and sum(matrix[benign]) else float("nan")
    print(f"\nmacro-F1 {macro:.4f} (goal >= 0.98); benign false-positive rate {fpr * 100:.3f}% (goal <= 0.1%)")
    print(f"confusion matrix (rows: actual, columns: predicted, order {labels}): {matrix}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fixtures", required=True)
    parser.add_argument("--speed-capture", action="append", default=[])
    args = parser.parse_args()
    datasets = {}
    for part in ("train", "test"):
        capture = analysed(os.path.join(args.fixtures, f"lab-{part}.pcap"))
        with open(os.path.join(args.fixtures, f"lab-{part}.labels.json")) as f:
            manifest = json.load(f)
        made = api("POST", "/sentinel/datasets", {"name": f"lab-{part}", "captureIds": [capture["id"]], "manifest": manifest})
        datasets[part] = made["datasetId"]
        print(f"{part}: {capture['packets']} packets, {capture['flows']} flows; labels {json.dumps(made['labels'], sort_keys=True)}")
    model = api("POST", "/ml/models", {"name": "sentinel-flows", "task": "classification", "algorithm": "xgboost",
                                       "hyperparameters": {"n_estimators": 100, "max_depth": 6}})
    job = api("POST", f"/ml/models/{model['id']}/train", {"datasetId": datasets["train"]})["jobId"]
    if wait_job(job) != "succeeded":
        sys.exit("training failed: " + json.dumps(api("GET", f"/ml/jobs/{job}")))
    api("POST", f"/ml/models/{model['id']}/deploy")
    report(api("POST", f"/ml/models/{model['id']}/validate", {"datasetId": datasets["test"]}), "test capture")
    # Many attack flows are identical feature for feature (a flood's SYNs, a scan's probes): the same figures on the
    # test capture's distinct rows, so repeated rows do not carry a class.
    rows = api("GET", f"/ml/datasets/{datasets['test']}/download", text=True).splitlines()
    distinct = [rows[0]] + sorted(set(rows[1:]))
    unique = api("POST", "/ml/datasets/upload?name=lab-test-distinct&label=Label", raw=("\n".join(distinct) + "\n").encode(),
                 content_type="text/csv")
    print(f"\ndistinct rows of the test capture: {len(distinct) - 1} of {len(rows) - 1}")
    report(api("POST", f"/ml/models/{model['id']}/validate", {"datasetId": unique["id"]}), "distinct test rows")

    for speed_capture in args.speed_capture:
        print(f"\n{os.path.basename(speed_capture)}:")
        for model_name in (None, "sentinel-flows"):
            capture = analysed(speed_capture, model_name)
            took = seconds(capture["finishedAt"]) - seconds(capture["startedAt"])
            print(f"pipeline {'with the model' if model_name else 'rules only'}: {capture['packets']} packets, "
                  f"{capture['flows']} flows, {capture['alerts']} alerts, {took:.3f} s = {capture['packets'] / took:,.0f} packets/s"
                  + (f"; {capture.get('flowsScoredAsAttack')} flows scored as attacks" if model_name else ""))


main()
