# Trains small XGBoost models for the differential test and writes, per
# model, model.json, model.ubj and what Booster.predict answers on a test
# set with missing values. Usage: python3 train.py OUTDIR
import json
import os
import sys

import numpy as np
import xgboost as xgb

out = sys.argv[1]
rng = np.random.default_rng(7)
n, f = 400, 6
X = rng.normal(size=(n, f))
X[rng.random(size=X.shape) < 0.1] = np.nan  # training sees missing values
Xt = rng.normal(size=(60, f))
Xt[rng.random(size=Xt.shape) < 0.2] = np.nan
Xt[0, :] = np.nan  # a row with every value missing
s = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) - np.nan_to_num(X[:, 2]) ** 2

cases = {
    "binary": ({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3}, (s > 0).astype(float)),
    "binary_base": ({"objective": "binary:logistic", "max_depth": 3, "base_score": 0.2}, (s > 0.5).astype(float)),
    "softprob": ({"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, np.digitize(s, [-1, 0.5])),
    "softmax": ({"objective": "multi:softmax", "num_class": 3, "max_depth": 3}, np.digitize(s, [-1, 0.5])),
    "regression": ({"objective": "reg:squarederror", "max_depth": 5, "base_score": 1.5}, s),
    "poisson": ({"objective": "count:poisson", "max_depth": 3}, np.floor(np.abs(s))),
    "dart": ({"objective": "reg:squarederror", "booster": "dart", "rate_drop": 0.2, "max_depth": 3, "seed": 3}, s),
}
meta = {"version": xgb.__version__, "cases": {}}
for name, (params, y) in cases.items():
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    params = dict(params, tree_method="hist", nthread=1)
    bst = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=12)
    bst.save_model(os.path.join(d, "model.json"))
    bst.save_model(os.path.join(d, "model.ubj"))
    pred = bst.predict(xgb.DMatrix(Xt))
    meta["cases"][name] = {"predictions": pred.tolist()}
rows = [[None if np.isnan(v) else float(v) for v in r] for r in Xt]
meta["rows"] = rows
with open(os.path.join(out, "expected.json"), "w") as fh:
    json.dump(meta, fh)
# A legacy binary model for the error test.
d = os.path.join(out, "legacy")
os.makedirs(d, exist_ok=True)
bst = xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(X, label=(s > 0).astype(float)), num_boost_round=2)
bst.save_model(os.path.join(d, "model.bst"))
