//go:build integration

package lake

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/internal/oracle"
)

// sparkFeatures is what scripts/oracles/delta_features.py wrote and read.
type sparkFeatures struct {
	Tables []struct {
		Name     string
		Path     string
		Protocol map[string]any
		Versions []struct {
			Version int64
			Rows    []map[string]any
		}
	}
}

// writeSparkFeatures has delta-spark 4.0 write tables with the features
// users meet (deletion vectors, column mapping by name and by id, nested
// types, escaped partition values, TIMESTAMP_NTZ, empty binary, a CHECK
// constraint) and read every version back.
func writeSparkFeatures(t *testing.T) sparkFeatures {
	t.Helper()
	var dump sparkFeatures
	out := []byte(nil)
	if saved := os.Getenv("DELTA_FEATURES_DUMP"); saved != "" { // a saved run of the script, for a quicker loop
		var err error
		if out, err = os.ReadFile(saved); err != nil {
			t.Fatal(err)
		}
	} else {
		out = oracle.Run(t, "delta_features.py", t.TempDir())
	}
	if err := json.Unmarshal(out, &dump); err != nil {
		t.Fatal(err)
	}
	if len(dump.Tables) != 7 {
		t.Fatalf("delta_features.py wrote %d tables, want 7", len(dump.Tables))
	}
	return dump
}

// Our reader against Spark (reference implementation) on every version of
// every table delta_features.py writes: the rows as multisets, values
// compared in one canonical form. Then the writer: an append to a table
// whose writer features it does not implement is refused with one line
// naming the feature and the table, and the table is unchanged (spark
// wrote the tables; the expected refusals are the protocol's).
func TestSparkFeatures(t *testing.T) {
	dump := writeSparkFeatures(t)
	t.Run("read", func(t *testing.T) { readsWhatSparkWrites(t, dump) })
	t.Run("refuse", func(t *testing.T) { refusesWriterFeatures(t, dump) })
}

func readsWhatSparkWrites(t *testing.T, dump sparkFeatures) {
	ctx := context.Background()
	for _, tb := range dump.Tables {
		t.Run(tb.Name, func(t *testing.T) {
			tbl := Open(tb.Path)
			if tb.Name == "dv" && deletionVectors(t, tb.Path) == 0 { // else the DELETE rewrote files and no vector is read
				t.Errorf("Spark's DELETE and UPDATE wrote no deletion vector in %s", tb.Path)
			}
			if tb.Name == "dv" || strings.HasPrefix(tb.Name, "colmap") { // their later versions replay from a checkpoint
				if cps, _ := filepath.Glob(filepath.Join(tb.Path, "_delta_log", "*.checkpoint.parquet")); len(cps) == 0 {
					t.Errorf("Spark wrote no checkpoint for %s", tb.Name)
				}
			}
			for _, v := range tb.Versions {
				snap, err := tbl.Snapshot(ctx, v.Version)
				if err != nil {
					t.Fatalf("version %d: %v", v.Version, err)
				}
				rows, err := tbl.Rows(ctx, snap)
				if err != nil {
					t.Fatalf("version %d: %v", v.Version, err)
				}
				got, want := canonRows(t, rows), canonRows(t, v.Rows)
				if !slices.Equal(got, want) {
					t.Errorf("version %d (protocol %v): our rows differ from Spark's\n ours:  %s\n spark: %s",
						v.Version, tb.Protocol, strings.Join(got, "\n        "), strings.Join(want, "\n        "))
				}
			}
		})
	}
}

// deletionVectors counts the add actions of a table's JSON commits that carry
// a deletion vector.
func deletionVectors(t *testing.T, dir string) int {
	t.Helper()
	commits, err := filepath.Glob(filepath.Join(dir, "_delta_log", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range commits {
		data, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var a struct {
				Add *struct{ DeletionVector json.RawMessage }
			}
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			if a.Add != nil && len(a.Add.DeletionVector) > 0 && string(a.Add.DeletionVector) != "null" {
				n++
			}
		}
	}
	return n
}

// refusesWriterFeatures: appends (and vacuum) on tables whose writer
// features this writer does not implement are refused with one line naming
// the feature and the table, and the table is left as it was.
func refusesWriterFeatures(t *testing.T, dump sparkFeatures) {
	ctx := context.Background()
	want := map[string]string{"dv": "deletionVectors", "colmap_name": "columnMapping", "colmap_id": "columnMapping",
		"check": "checkConstraints", "types": "timestampNtz"}
	for _, tb := range dump.Tables {
		feature, refused := want[tb.Name]
		if !refused {
			continue
		}
		t.Run(tb.Name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tb.Name)
			if out, err := exec.Command("cp", "-r", tb.Path, dir).CombinedOutput(); err != nil {
				t.Fatalf("copy: %v %s", err, out)
			}
			before := listing(t, dir)
			tbl := Open(dir)
			_, err := tbl.Append(ctx, NewSchema("id", TypeInteger), []AddFile{{Path: "part-x.parquet", Size: 1, DataChange: true,
				PartitionValues: map[string]*string{}}}, WriteOptions{})
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), dir) ||
				!strings.Contains(err.Error(), "writer feature "+feature) {
				t.Errorf("append: %v, want one line naming %s and %s", err, feature, dir)
			}
			if tb.Name == "dv" {
				if _, err := tbl.Vacuum(ctx, 0, false); err == nil || !strings.Contains(err.Error(), feature) {
					t.Errorf("vacuum: %v, want a refusal naming %s", err, feature)
				}
			}
			if after := listing(t, dir); !slices.Equal(before, after) {
				t.Errorf("the table changed:\n before %v\n after  %v", before, after)
			}
		})
	}
}

// listing is every file under dir with its size.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %d", strings.TrimPrefix(p, dir), st.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// canonRows renders rows as sorted JSON strings, values in the form
// delta_features.py writes: times as microseconds, binary as {"b64": …},
// every number as a float64.
func canonRows(t *testing.T, rows []map[string]any) []string {
	t.Helper()
	out := make([]string, len(rows))
	for i, r := range rows {
		b, err := json.Marshal(canonValue(r))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	slices.Sort(out)
	return out
}

func canonValue(v any) any {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x
	case []byte:
		return map[string]any{"b64": base64.StdEncoding.EncodeToString(x)}
	case int64:
		return float64(x)
	case time.Time:
		return float64(x.UnixMicro())
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = canonValue(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = canonValue(e)
		}
		return l
	}
	return fmt.Sprintf("unexpected %T %v", v, v)
}
