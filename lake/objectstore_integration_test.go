//go:build integration

package lake

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/lake/laketest"
)

// backends returns a fresh, empty storage root per backend: local disk, a
// real S3-compatible server (versitygw) and a GCS emulator.
func backends(t *testing.T) map[string]func(t *testing.T) (Storage, string) {
	var s3srv *laketest.S3Server
	return map[string]func(t *testing.T) (Storage, string){
		"local": func(t *testing.T) (Storage, string) {
			d := t.TempDir()
			return LocalStorage{Root: d}, d
		},
		"s3": func(t *testing.T) (Storage, string) {
			if s3srv == nil {
				s3srv = laketest.StartS3(t)
			}
			b := s3srv.Bucket(t, "lake-"+strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
			return &S3Storage{Bucket: b, Prefix: "tables/t1", Client: s3srv.Client}, "s3://" + b + "/tables/t1"
		},
		"gcs": func(t *testing.T) (Storage, string) {
			g := laketest.StartGCS(t, "lake")
			return &GCSStorage{Bucket: "lake", Prefix: "tables/t1", Client: g.Client}, "gs://lake/tables/t1"
		},
	}
}

// Every backend honours the Storage contract the same way.
func TestStorageContract(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			st, _ := open(t)
			if _, err := st.ReadFile(ctx, "_delta_log/00000000000000000000.json"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("read of a missing file: %v, want fs.ErrNotExist", err)
			}
			if _, err := st.List(ctx, "_delta_log"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("list of a missing dir: %v, want fs.ErrNotExist", err)
			}
			if err := st.PutIfAbsent(ctx, "_delta_log/00000000000000000001.json", []byte("first")); err != nil {
				t.Fatal(err)
			}
			if err := st.PutIfAbsent(ctx, "_delta_log/00000000000000000001.json", []byte("second")); !errors.Is(err, ErrExist) {
				t.Fatalf("second put of the same name: %v, want ErrExist", err)
			}
			if b, err := st.ReadFile(ctx, "_delta_log/00000000000000000001.json"); err != nil || string(b) != "first" {
				t.Fatalf("after a lost put: %q %v, want the winner's bytes", b, err)
			}
			st.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte("zero"))
			st.PutIfAbsent(ctx, "_delta_log/sub/deeper.json", []byte("x"))

			w, err := st.Create(ctx, "part-0.parquet")
			if err != nil {
				t.Fatal(err)
			}
			data := []byte(strings.Repeat("0123456789", 1000))
			w.Write(data[:5000])
			if _, err := st.ReadFile(ctx, "part-0.parquet"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a file being written is visible before Close: %v", err)
			}
			w.Write(data[5000:])
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			names, err := st.List(ctx, "_delta_log")
			if err != nil || strings.Join(names, ",") != "00000000000000000000.json,00000000000000000001.json" {
				t.Errorf("list = %v (%v), want the two commits, sorted, without the subfolder", names, err)
			}
			// Small objects come whole in one request, large ones by ranges.
			for _, whole := range []int64{8 << 20, 1000} {
				defer func(old int64) { wholeFileBytes = old }(wholeFileBytes)
				wholeFileBytes = whole
				f, size, err := st.Open(ctx, "part-0.parquet")
				if err != nil || size != int64(len(data)) {
					t.Fatalf("open: size %d, %v", size, err)
				}
				buf := make([]byte, 7)
				if n, err := f.ReadAt(buf, 9990); n != 7 || err != nil || string(buf) != "0123456" {
					t.Errorf("ReadAt(9990) = %d %q %v", n, buf, err)
				}
				if n, err := f.ReadAt(buf, 9996); n != 4 || err != io.EOF || string(buf[:4]) != "6789" {
					t.Errorf("ReadAt past the end = %d %q %v, want 4 bytes and io.EOF", n, buf[:n], err)
				}
				f.Seek(-3, io.SeekEnd)
				if tail, _ := io.ReadAll(f); string(tail) != "789" {
					t.Errorf("seek from end read %q", tail)
				}
				f.Close()
			}
			var walked []string
			if err := st.Walk(ctx, func(n string, sz int64, mod time.Time) error {
				if time.Since(mod) > time.Hour || mod.After(time.Now().Add(time.Minute)) {
					t.Errorf("%s: modification time %v", n, mod)
				}
				walked = append(walked, n+":"+strconv.FormatInt(sz, 10))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			sort.Strings(walked)
			want := "_delta_log/00000000000000000000.json:4,_delta_log/00000000000000000001.json:5,_delta_log/sub/deeper.json:1,part-0.parquet:10000"
			if got := strings.Join(walked, ","); got != want {
				t.Errorf("walk = %s\nwant  %s", got, want)
			}
			if err := st.Remove(ctx, "part-0.parquet"); err != nil {
				t.Fatal(err)
			}
			if err := st.Remove(ctx, "part-0.parquet"); err != nil {
				t.Errorf("removing a missing file: %v", err)
			}
			if _, _, err := st.Open(ctx, "part-0.parquet"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("open after remove: %v", err)
			}
		})
	}
}

// A table on each object store: write, read, history, optimize and vacuum
// behave as on disk, and many writers committing at once lose and
// duplicate nothing.
func TestObjectStoreTables(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			st, loc := open(t)
			tbl := &Table{Location: loc, Storage: st}
			for i := 0; i < 3; i++ {
				if _, err := tbl.Append(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, i*10, i*10+10)}, WriteOptions{AppID: "t", Version: int64(i)}); err != nil {
					t.Fatal(err)
				}
			}
			snap, err := tbl.Snapshot(ctx, -1)
			if err != nil || snap.Version != 2 {
				t.Fatalf("snapshot: %v", err)
			}
			if got := column(rows(t, tbl, snap), "id"); strings.Join(got, ",") != strings.Join(sorted(seq("", 0, 29)), ",") {
				t.Errorf("ids = %v", got)
			}
			if v, err := tbl.Append(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 0, 1)}, WriteOptions{AppID: "t", Version: 2}); v != -1 || err != nil {
				t.Errorf("a replayed txn committed version %d (%v)", v, err)
			}
			if v, nb, na, err := tbl.Optimize(ctx, WriterOptions{}); err != nil || v != 3 || nb != 3 || na != 1 {
				t.Fatalf("optimize: v=%d %d→%d, %v", v, nb, na, err)
			}
			gone, err := tbl.Vacuum(ctx, 0, false)
			// The three optimized-away files and the replayed txn's orphan.
			if err != nil || len(gone) != 4 {
				t.Errorf("vacuum removed %v (%v), want 4 files", gone, err)
			}
			snap, _ = tbl.Snapshot(ctx, -1)
			if got := column(rows(t, tbl, snap), "id"); len(got) != 30 {
				t.Errorf("after optimize and vacuum: %d rows", len(got))
			}
			commits := 50
			if raceEnabled { // the race detector slows the HTTP stacks ~5x; go test without -race runs all 50
				commits = 10
			}
			concurrentAppends(t, &Table{Location: loc + "-concurrent", Storage: sibling(st, "concurrent")}, commits)
		})
	}
}

// sibling returns a storage for another table beside st's.
func sibling(st Storage, name string) Storage {
	switch s := st.(type) {
	case *S3Storage:
		return &S3Storage{Bucket: s.Bucket, Prefix: s.Prefix + "-" + name, Client: s.Client}
	case *GCSStorage:
		return &GCSStorage{Bucket: s.Bucket, Prefix: s.Prefix + "-" + name, Client: s.Client}
	case LocalStorage:
		return LocalStorage{Root: s.Root + "-" + name}
	}
	panic("unknown storage")
}

// The S3 table's bytes, read from versitygw's backing directory with the
// local reader: what went over the wire is a plain Delta table.
func TestS3TableOnDisk(t *testing.T) {
	ctx := context.Background()
	srv := laketest.StartS3(t)
	srv.Env(t)
	b := srv.Bucket(t, "ondisk")
	tbl := Open("s3://" + b + "/lake/events") // the client from the environment
	if _, err := tbl.Append(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 0, 25)}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	local := Open(filepath.Join(srv.Root, b, "lake", "events"))
	snap, err := local.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := column(rows(t, local, snap), "name"); strings.Join(got, ",") != strings.Join(column(rows(t, tbl, mustSnap(t, tbl)), "name"), ",") || got[24] != "name-9" {
		t.Errorf("names read from disk: %v", got)
	}
	if _, err := os.Stat(filepath.Join(srv.Root, b, "lake", "events", "_delta_log", "00000000000000000000.json")); err != nil {
		t.Error(err)
	}
}

func mustSnap(t *testing.T, tbl *Table) *Snapshot {
	t.Helper()
	s, err := tbl.Snapshot(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Glob lists an object-store folder or pattern as filepath.Glob lists a
// local one: * stays within a folder, sizes come with the listing.
func TestGlob(t *testing.T) {
	ctx := context.Background()
	s3srv := laketest.StartS3(t)
	s3srv.Env(t)
	s3srv.Bucket(t, "raw")
	gcs := laketest.StartGCS(t, "raw")
	gcs.Env(t)
	dir := t.TempDir()
	files := map[string]string{"in/a.json": "{}", "in/b.json": "[1]", "in/c.txt": "x", "in/sub/d.json": "{}", "inx/e.json": "{}"}
	for _, loc := range []string{"s3://raw", "gs://raw", dir} {
		for name, body := range files {
			w, err := CreateFile(ctx, Join(loc, name))
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(body))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
		for pattern, want := range map[string]string{
			"in/*":       "in/a.json:2 in/b.json:3 in/c.txt:1",
			"in/*.json":  "in/a.json:2 in/b.json:3",
			"in*/*.json": "in/a.json:2 in/b.json:3 inx/e.json:2",
			"in/sub/*":   "in/sub/d.json:2",
			"nothing/*":  "",
		} {
			got, err := Glob(ctx, Join(loc, pattern), nil)
			if err != nil {
				t.Fatalf("%s: %v", Join(loc, pattern), err)
			}
			var parts []string
			for _, f := range got {
				parts = append(parts, strings.TrimPrefix(strings.TrimPrefix(f.Path, loc), "/")+":"+strconv.FormatInt(f.Size, 10))
			}
			if g := strings.Join(parts, " "); g != want {
				t.Errorf("Glob(%s) = %q, want %q", Join(loc, pattern), g, want)
			}
		}
		if !IsDir(ctx, Join(loc, "in")) || IsDir(ctx, Join(loc, "nope")) {
			t.Errorf("%s: IsDir wrong", loc)
		}
		size, _, err := Stat(ctx, Join(loc, "in/b.json"))
		if err != nil || size != 3 {
			t.Errorf("%s: Stat = %d, %v", loc, size, err)
		}
		if _, _, err := Stat(ctx, Join(loc, "in/missing.json")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: Stat of a missing file: %v", loc, err)
		}
		r, err := OpenStream(ctx, Join(loc, "in/b.json"))
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(r); string(b) != "[1]" {
			t.Errorf("%s: OpenStream read %q", loc, b)
		}
		r.Close()
	}
}
