# Shared by the bench-*.sh scripts (sourced).

# summary_texts_seconds FILE: the distinct texts a medallion run inferred and
# its elapsed seconds, from its run summary: "TEXTS SECONDS".
summary_texts_seconds() {
	local t e
	t=$(sed -n 's/.*(\([0-9,]*\) distinct texts inferred.*/\1/p' "$1" | tr -d ,)
	e=$(awk '/^  elapsed/ {print $2}' "$1")
	case "$e" in
	*ms) e=$(awk -v v="${e%ms}" 'BEGIN{print v/1000}') ;;
	*m*s) e=$(awk -v v="$e" 'BEGIN{split(v,a,"m"); sub("s","",a[2]); print a[1]*60+a[2]}') ;;
	*) e=${e%s} ;;
	esac
	echo "$t $e"
}

# silver_texts LAKE OUT: silver's distinct cleaned_text (what the gold stage
# infers), read with delta-rs, as a JSON list.
silver_texts() {
	.cache/venv/bin/python -c '
import json, os, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1]).to_pyarrow_table(columns=["cleaned_text"])
json.dump(sorted(set(t.column("cleaned_text").to_pylist())), open(sys.argv[2], "w"))
sys.stdout.flush(); os._exit(0)' "$1/silver" "$2"
}

# bench_prepare: the runner benchmarks' common set-up, from ROUNDS, TWEETS,
# MODEL, PROFILE and OUT: the command built into $bin, $input holding TWEETS
# one-tweet files of PROFILE (generated once per OUT), $model the model's
# folder (demo: the repository's; otherwise .cache/bench-models/MODEL), and
# ORT_LIB and BEAM_BOOT exported for the workers a job server starts.
bench_prepare() {
	mkdir -p "$OUT"
	export ORT_LIB="$PWD/.cache/onnxruntime/libonnxruntime.so.1" BEAM_BOOT="$PWD/.cache/bin/beam-boot"
	bin="$OUT/medallion"
	CGO_ENABLED=1 go build -o "$bin" ./pipelines/medallion
	input="$OUT/files$TWEETS-$PROFILE"
	[ -d "$input" ] || go run ./scripts/gentweets --out "$input" --tweets "$TWEETS" --seed 100 --profile "$PROFILE" >/dev/null
	case "$MODEL" in
	demo) model="$PWD/testdata/models/tweet-sentiment-demo" ;;
	*) model="$PWD/.cache/bench-models/$MODEL" ;;
	esac
	[ -f "$model/onnx/model.onnx" ] || { echo "no model at $model (run scripts/make-bench-models.sh)" >&2; exit 1; }
}
