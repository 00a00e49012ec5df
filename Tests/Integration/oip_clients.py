"""The Open Inference Protocol (KServe V2) with a real client: tritonclient[http] from PyPI against Neuroplex.

Run from the project root after a build:  python3 Tests/Integration/oip_clients.py
Uses the acceptance harness in ../shared/acceptance to start a server on free loopback ports, trains and deploys a
small model, then drives /v2 with tritonclient: health, server and model metadata, readiness, inference with JSON
and with binary tensors, errors, and the repository extension.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "acceptance"))
from harness import Checks, Server  # noqa: E402
from ml_common import make_rows, to_csv, train, upload  # noqa: E402

try:
    import numpy as np
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "tritonclient[http]"], check=True)
    import numpy as np
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

FEATURES = ("f1", "f2", "f3", "f4", "f5", "proto")
c = Checks()
srv = Server().start()
try:
    key = srv.admin_key()
    bearer = f"Bearer {key}"

    def auth_headers():
        """Fresh headers for each call: tritonclient adds Inference-Header-Content-Length to the dict it is given."""
        return {"Authorization": bearer}

    ds = upload(srv, key, "traffic", to_csv(make_rows(2000))).json()
    model_id, job = train(srv, key, "flows", ds["id"], hyper={"max_depth": 3, "n_estimators": 30})
    c.check("setup: model trained", job.get("status") == "succeeded", repr(job)[:200])
    r = srv.request("POST", f"/ml/models/{model_id}/deploy", {"version": 1}, key=key)
    c.check("setup: deployed", r.status == 200, repr(r.body[:200]))

    client = httpclient.InferenceServerClient(url=srv.url.replace("http://", ""))
    c.check("server live", client.is_server_live())
    c.check("server ready", client.is_server_ready())
    meta = client.get_server_metadata()
    c.check("server metadata names the repository extension", "model_repository" in meta.get("extensions", []), repr(meta))
    c.check("model ready", client.is_model_ready("flows", headers=auth_headers()))
    md = client.get_model_metadata("flows", headers=auth_headers())
    names = [i["name"] for i in md["inputs"]]
    types = {i["name"]: i["datatype"] for i in md["inputs"]}
    c.check("metadata: one input per feature", sorted(names) == sorted(FEATURES), repr(md)[:300])
    c.check("metadata: FP64 numbers, BYTES categories", types.get("f1") == "FP64" and types.get("proto") == "BYTES")
    c.check("metadata: label and probabilities outputs", [o["name"] for o in md["outputs"]] == ["label", "probabilities"])

    rows = make_rows(64, seed=3)

    def inputs(binary):
        tensors = []
        for name in names:
            if name == "proto":
                data = np.array([r[name].encode() for r in rows], dtype=np.object_)
                tensor = httpclient.InferInput(name, [len(rows)], "BYTES")
            else:
                data = np.array([float(r[name]) for r in rows], dtype=np.float64)
                tensor = httpclient.InferInput(name, [len(rows)], "FP64")
            tensor.set_data_from_numpy(data, binary_data=binary)
            tensors.append(tensor)
        return tensors

    # The same rows through /ml/predict, to compare with.
    expected = srv.request("POST", "/ml/predict", {"model": "flows", "instances": [{f: r[f] for f in FEATURES} for r in rows]},
                           key=key).json()["predictions"]
    for binary in (False, True):
        kind = "binary tensors" if binary else "JSON tensors"
        outputs = [httpclient.InferRequestedOutput("label", binary_data=False),
                   httpclient.InferRequestedOutput("probabilities", binary_data=False)]
        result = client.infer("flows", inputs(binary), outputs=outputs, request_id=f"req-{kind}", headers=auth_headers())
        labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label").tolist()]
        probabilities = result.as_numpy("probabilities")
        c.check(f"infer with {kind}: one label per row, as /ml/predict", labels == [p["label"] for p in expected], repr(labels[:5]))
        c.check(f"infer with {kind}: probabilities [rows, 2] summing to 1",
                probabilities.shape == (64, 2) and np.allclose(probabilities.sum(axis=1), 1.0))
        c.check(f"infer with {kind}: the request id comes back", result.get_response().get("id") == f"req-{kind}")

    try:
        bad = httpclient.InferInput("colour", [len(rows)], "BYTES")
        bad.set_data_from_numpy(np.array([b"red"] * len(rows), dtype=np.object_), binary_data=False)
        client.infer("flows", inputs(False) + [bad], headers=auth_headers())
        c.check("an unknown input is refused", False)
    except InferenceServerException as error:
        c.check("an unknown input is refused, naming it", "colour" in str(error), str(error))
    try:
        client.infer("nothing-here", inputs(False), headers=auth_headers())
        c.check("an unknown model is refused", False)
    except InferenceServerException as error:
        c.check("an unknown model is refused", "nothing-here" in str(error), str(error))

    index = client.get_model_repository_index(headers=auth_headers())
    c.check("repository index lists the model as READY",
            any(m.get("name") == "flows" and m.get("state") == "READY" for m in index), repr(index))
    client.unload_model("flows", headers=auth_headers())
    c.check("unload: the model is no longer ready", not client.is_model_ready("flows", headers=auth_headers()))
    client.load_model("flows", headers=auth_headers())
    c.check("load: ready again", client.is_model_ready("flows", headers=auth_headers()))
finally:
    srv.stop()
c.finish()
