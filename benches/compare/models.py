"""Our random forest vs scikit-learn's on the same splits (see models.sh)."""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

binary, sample, seeds = sys.argv[1], sys.argv[2], int(sys.argv[3])
df = pd.read_csv(sample)
df.columns = [c.strip() for c in df.columns]
label = "Label"
ids = {"Flow ID", "Source IP", "Source Port", "Destination IP", "Destination Port", "Timestamp"}
features = [c for c in df.columns if c != label and c not in ids and c != "Fwd Header Length.1"]
# Non-finite cells as maximus-sim's default (clip) treats them: +inf -> the
# column's finite max, -inf -> its finite min, NaN -> 0.
x = df[features].astype(float)
finite = x.replace([np.inf, -np.inf], np.nan)
for c in features:
    col = x[c]
    col = col.mask(col == np.inf, finite[c].max()).mask(col == -np.inf, finite[c].min())
    x[c] = col.fillna(0.0)
y = df[label].str.strip()

rows = []
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    for seed in range(seeds):
        tr, te = train_test_split(df.index, test_size=0.2, stratify=y, random_state=seed)
        df.loc[tr].to_csv(tmp / "train.csv", index=False)
        df.loc[te].to_csv(tmp / "test.csv", index=False)
        t0 = time.perf_counter()
        subprocess.run([binary, "train", "--model", "rf", "--seed", str(seed), "--validation", "0",
                        "--data", tmp / "train.csv", "-o", tmp / "m.json"],
                       check=True, capture_output=True)
        ours_s = time.perf_counter() - t0
        subprocess.run([binary, "eval", "--model", tmp / "m.json", "--data", tmp / "test.csv",
                        "-o", tmp / "eval"], check=True, capture_output=True)
        ours = json.loads((tmp / "eval" / "metrics.json").read_text())["macro_avg"]["f1"]
        rf = RandomForestClassifier(n_estimators=100, max_features="sqrt", n_jobs=2, random_state=seed)
        t0 = time.perf_counter()
        rf.fit(x.loc[tr], y.loc[tr])
        sk_s = time.perf_counter() - t0
        sk = f1_score(y.loc[te], rf.predict(x.loc[te]), average="macro")
        rows.append((seed, ours, sk, ours_s, sk_s))
        print(f"seed {seed}: macro F1 maximus-sim {ours:.4f} scikit-learn {sk:.4f}; "
              f"train {ours_s:.2f} s vs {sk_s:.2f} s", flush=True)

a = np.array([r[1:] for r in rows])
print(f"mean over {seeds} splits: macro F1 maximus-sim {a[:,0].mean():.4f} (sd {a[:,0].std():.4f}) "
      f"scikit-learn {a[:,1].mean():.4f} (sd {a[:,1].std():.4f}); difference {a[:,0].mean()-a[:,1].mean():+.4f}; "
      f"train {a[:,2].mean():.2f} s vs {a[:,3].mean():.2f} s (ours includes process start and CSV read)")
