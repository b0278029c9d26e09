#!/usr/bin/env bash
# Reference check of the random forest: maximus-sim's against
# scikit-learn's RandomForestClassifier on the same stratified 80/20
# splits of the shared CIC-IDS2017 sample, one split per seed.
#
#   benches/compare/models.sh [seeds]      # default 6 (seeds 0..5)
#
# scikit-learn and pandas are pip-installed into benches/compare/.venv-models.
# Both forests: 100 trees, max_features=sqrt, bootstrap, Gini, unlimited
# depth, 2 threads (sklearn n_jobs=2, ours on rayon's 2). Prints, per seed,
# both macro F1s and both training times, then the means.
set -euo pipefail
exec </dev/null
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
data_dir="${MAXIMUS_DATA_DIR:-$repo/../shared/datasets}"
sample="$data_dir/cicids2017-sample-mth-ids/CICIDS2017_sample.csv"
[ -f "$sample" ] || { echo "no CIC-IDS2017 sample at $sample (set MAXIMUS_DATA_DIR)" >&2; exit 66; }
seeds="${1:-6}"
venv="$here/.venv-models"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q scikit-learn pandas
fi
(cd "$repo" && cargo build --release --quiet)
exec "$venv/bin/python" "$here/models.py" "$repo/target/release/maximus-sim" "$sample" "$seeds"
