# Shared by scripts/bench-realistic.sh and scripts/bench-peers.sh (sourced).

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
