#!/usr/bin/env bash
# Re-scoring at the course's scale, checked by delta-rs: 100,000 one-tweet
# files run end to end with model version 1; version 2 (another model) is
# promoted to Production; `medallion rescore` recomputes gold and application
# from silver with the raw files moved away (so it cannot read one); and a
# fresh end-to-end run with version 2 into another lake must give the same
# gold and application, read by delta-rs, while silver stays at the version
# it had before the re-score and the new model changes some labels.
#
#   ./scripts/check-rescore.sh            # 100,000 tweets
#   TWEETS=5000 ./scripts/check-rescore.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TWEETS="${TWEETS:-100000}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin="$work/bin"
go build -o "$bin/" ./pipelines/medallion ./scripts/gentweets ./scripts/register
"$bin/gentweets" --out "$work/raw" --tweets "$TWEETS" --seed 100 >/dev/null
"$bin/register" --registry "$work/mlruns" --model-dir testdata/models/tweet-sentiment-demo --stage Production >/dev/null
"$bin/medallion" run --input "$work/raw" --lake "$work/lake" --registry "$work/mlruns" >/dev/null
# Version 2, another model (a tiny RoBERTa with its own BPE vocabulary), to Production.
"$bin/register" --registry "$work/mlruns" --model-dir testdata/models/tiny-roberta-bpe --stage Production >/dev/null
# The versions before the re-score, as delta-rs reads them.
read -r silver_v gold_v < <(.cache/venv/bin/python -c '
import os, sys
from deltalake import DeltaTable
print(DeltaTable(sys.argv[1] + "/silver").version(), DeltaTable(sys.argv[1] + "/gold").version(), flush=True)
os._exit(0)' "$work/lake")
mv "$work/raw" "$work/raw-away"
"$bin/medallion" rescore --lake "$work/lake" --registry "$work/mlruns" >/dev/null
mv "$work/raw-away" "$work/raw"
"$bin/medallion" run --input "$work/raw" --lake "$work/fresh" --registry "$work/mlruns" >/dev/null
# About 0.6 silver rows per generated tweet: at least 0.4 per tweet.
.cache/venv/bin/python scripts/check_rescore_tables.py "$work/lake" "$work/fresh" "$silver_v" "$gold_v" $((TWEETS * 4 / 10))
