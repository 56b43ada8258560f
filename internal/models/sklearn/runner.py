# sdep's SKLEARN_SERVER runner: serves a scikit-learn model saved with
# joblib (model.joblib) over the REST side of the Seldon protocol, with the
# Python standard library's HTTP server. sdep passes this source to the
# user's Python with -c (no file is written); only scikit-learn, joblib and
# numpy come from that Python.
#
# Arguments: MODEL_DIR METHOD HOST PORT
#   METHOD: predict_proba (upstream's default), decision_function, or
#   anything else for predict.
import json
import os
import sys
import threading

# With -c the first import path is the working directory: drop it, so a
# joblib.py or numpy.py there cannot stand in for the real modules.
if sys.path[:1] == [""]:
    del sys.path[0]
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

MAX_BODY = 64 << 20


def fail_setup(msg):
    sys.stderr.write("sdep sklearn server: " + msg + "\n")
    sys.exit(2)


try:
    import joblib
    import numpy as np
    import sklearn  # noqa: F401  (unpickling needs it)
except ImportError as e:
    fail_setup(
        "%s cannot import %s: install scikit-learn for this Python "
        "(Debian: apt-get install python3-sklearn; else pip install scikit-learn joblib), "
        "or give sdep model sklearn --python PATH of a Python that has it" % (sys.executable, e.name)
    )

model_dir, method, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
path = os.path.join(model_dir, "model.joblib")
if not os.path.exists(path):
    fail_setup("no model.joblib in %s: save the model with joblib.dump(model, \"model.joblib\")" % model_dir)
try:
    model = joblib.load(path)
except Exception as e:  # noqa: BLE001
    fail_setup("loading %s: %s: %s" % (path, type(e).__name__, e))
lock = threading.Lock()


def predict(X):
    if method == "predict_proba":
        return model.predict_proba(X)
    if method == "decision_function":
        return model.decision_function(X)
    return model.predict(X)


class BadData(Exception):
    pass


def rows_of(msg):
    data = msg.get("data") if isinstance(msg, dict) else None
    if not isinstance(data, dict):
        raise BadData("no data: send data.ndarray or data.tensor")
    if "tensor" in data:
        t = data["tensor"]
        shape, values = t.get("shape"), t.get("values")
        if not isinstance(shape, list) or not isinstance(values, list):
            raise BadData("data.tensor needs shape and values")
        try:
            return np.array(values, dtype=float).reshape(shape), True
        except (ValueError, TypeError) as e:
            raise BadData("data.tensor: %s" % e)
    if "ndarray" in data:
        try:
            return np.array(data["ndarray"], dtype=float), False
        except (ValueError, TypeError) as e:
            raise BadData("data.ndarray must be a numeric array: %s" % e)
    raise BadData("no data: send data.ndarray or data.tensor")


def answer(pred, tensor, puid):
    pred = np.asarray(pred)
    names = []
    if pred.ndim > 1:
        names = ["t:%d" % i for i in range(pred.shape[1])]
    if tensor:
        data = {"names": names, "tensor": {"shape": list(pred.shape), "values": pred.ravel().tolist()}}
    else:
        data = {"names": names, "ndarray": pred.tolist()}
    meta = {"puid": puid} if puid else {}
    return {"data": data, "meta": meta}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body, ctype="application/json"):
        b = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def failure(self, code, info):
        self.send(code, {"status": {"status": 1, "info": info, "code": -1, "reason": "MICROSERVICE_BAD_DATA"}})

    def payload(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if "json" in q:
            self.discard_body()  # else keep-alive parses it as the next request
            return q["json"][0]
        n = self.body_length()
        if n > MAX_BODY:
            self.close_connection = True  # the unread body must not be parsed as a request
            raise BadData("request body too large")
        body = self.rfile.read(n).decode("utf-8", "replace") if n > 0 else ""
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            form = parse_qs(body)
            if "json" in form:
                return form["json"][0]
        return body

    def body_length(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            raise BadData("send the request with a Content-Length (chunked bodies are not read)")
        try:
            return max(int(self.headers.get("Content-Length") or 0), 0)
        except ValueError:
            self.close_connection = True
            raise BadData("bad Content-Length")

    def discard_body(self):
        try:
            n = self.body_length()
        except BadData:
            return
        if n > MAX_BODY:
            self.close_connection = True
        elif n > 0:
            self.rfile.read(n)

    def route(self):
        p = urlparse(self.path).path
        if p not in ("/predict", "/api/v1.0/predictions", "/api/v0.1/predictions"):
            self.discard_body()
        if p in ("/predict", "/api/v1.0/predictions", "/api/v0.1/predictions"):
            try:
                msg = json.loads(self.payload())
                X, tensor = rows_of(msg)
                meta = msg.get("meta")
                if meta is not None and not isinstance(meta, dict):
                    raise BadData("meta: want an object, e.g. {\"puid\": \"...\"}")
                puid = (meta or {}).get("puid", "")
                if X.ndim == 1:
                    X = X.reshape(1, -1)
                with lock:
                    pred = predict(X)
            except BadData as e:
                return self.failure(400, str(e))
            except json.JSONDecodeError as e:
                return self.failure(400, "invalid SeldonMessage JSON: %s" % e)
            except Exception as e:  # noqa: BLE001  (the model's own errors)
                return self.failure(500, "%s: %s" % (type(e).__name__, e))
            return self.send(200, answer(pred, tensor, puid))
        if p in ("/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback"):
            return self.send(200, {"meta": {}})
        if p == "/health/ping":
            return self.send(200, b"pong", "text/plain")
        if p in ("/health/status", "/api/v1.0/health/status"):
            return self.send(200, {"jsonData": {"status": "ok"}, "meta": {}})
        if p in ("/metadata", "/api/v1.0/metadata"):
            return self.send(200, {"name": "sklearn", "versions": [], "platform": "sklearn", "custom": {"method": method}})
        return self.failure(404, "no route %s" % p)

    do_GET = route
    do_POST = route


server = ThreadingHTTPServer((host, port), Handler)
server.daemon_threads = True
sys.stderr.write("sdep sklearn server: serving %s (%s) on %s:%d\n" % (path, method, host, server.server_address[1]))
sys.stderr.flush()
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
