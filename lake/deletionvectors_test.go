package lake

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// An inline deletion vector ('i': the RoaringBitmapArray Z85-encoded in the
// log), rows above 2^32 included, and one whose cardinality disagrees with
// the log. Wiring: the vector is made here with the roaring library (Spark
// 4.0 writes vectors to files, which TestSparkFeatures reads).
func TestInlineDeletionVector(t *testing.T) {
	rows := map[uint32][]uint32{0: {1, 3, 70000}, 1: {5}}
	var data bytes.Buffer
	binary.Write(&data, binary.LittleEndian, uint32(dvMagic))
	binary.Write(&data, binary.LittleEndian, uint64(len(rows)))
	for _, high := range []uint32{0, 1} {
		binary.Write(&data, binary.LittleEndian, high)
		if _, err := roaring.BitmapOf(rows[high]...).WriteTo(&data); err != nil {
			t.Fatal(err)
		}
	}
	size := data.Len()
	for data.Len()%4 != 0 {
		data.WriteByte(0)
	}
	dv := &DeletionVector{StorageType: "i", PathOrInlineDv: z85Encode(data.Bytes()), SizeInBytes: int32(size), Cardinality: 4}
	got, err := (&Table{}).deletedRows(context.Background(), dv)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []uint64{1, 3, 70000, 1<<32 | 5} {
		if !got.contains(row) {
			t.Errorf("row %d should be deleted", row)
		}
	}
	for _, row := range []uint64{0, 2, 5, 1 << 32} {
		if got.contains(row) {
			t.Errorf("row %d should not be deleted", row)
		}
	}
	dv.Cardinality = 3
	if _, err := (&Table{}).deletedRows(context.Background(), dv); err == nil || !strings.Contains(err.Error(), "the log says 3") {
		t.Errorf("a cardinality the vector disagrees with: %v", err)
	}
}

// z85Encode is Z85 (ZeroMQ RFC 32) of data, a multiple of 4 bytes.
func z85Encode(data []byte) string {
	var b strings.Builder
	for i := 0; i < len(data); i += 4 {
		v := binary.BigEndian.Uint32(data[i:])
		var block [5]byte
		for j := 4; j >= 0; j-- {
			block[j] = z85Alphabet[v%85]
			v /= 85
		}
		b.Write(block[:])
	}
	return b.String()
}

// Reader features: those implemented pass, anything else is named; a
// writer-only feature never reaches readerFeatures. Wiring (no Spark 4.0
// table needs a reader feature beyond those implemented but V2 checkpoints).
func TestCheckReadable(t *testing.T) {
	for _, c := range []struct {
		p    Protocol
		mode string
		want string // "" readable
	}{
		{Protocol{MinReaderVersion: 1, MinWriterVersion: 2}, "", ""},
		{Protocol{MinReaderVersion: 2, MinWriterVersion: 5}, "name", ""},
		{Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"deletionVectors", "columnMapping", "timestampNtz"}}, "id", ""},
		{Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"deletionVectors", "v2Checkpoint"}}, "", `unsupported Delta reader feature "v2Checkpoint"`},
		{Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"typeWidening"}}, "", `"typeWidening"`},
		{Protocol{MinReaderVersion: 4}, "", "minReaderVersion 4"},
		{Protocol{MinReaderVersion: 2}, "physical", `column mapping mode "physical"`},
		// Writer-only features, in both protocol forms: a CHECK constraint as
		// Spark writes it today (writer 3) and as a table-features writer lists it.
		{Protocol{MinReaderVersion: 1, MinWriterVersion: 3}, "", ""},
		{Protocol{MinReaderVersion: 1, MinWriterVersion: 7, WriterFeatures: []string{"checkConstraints", "appendOnly", "invariants", "generatedColumns"}}, "", ""},
		{Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{}, WriterFeatures: []string{"checkConstraints", "identityColumns"}}, "", ""},
	} {
		err := checkReadable(c.p, Metadata{Configuration: map[string]string{"delta.columnMapping.mode": c.mode}})
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v %q: %v, want %q", c.p, c.mode, err, c.want)
		}
	}
}

// A table whose protocol needs a reader feature we do not implement is
// refused by Snapshot, before any file is read, with one line naming the
// feature and the table. Wiring: the log is written here.
func TestSnapshotRefusesReaderFeature(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "_delta_log")
	if err := os.MkdirAll(log, 0o755); err != nil {
		t.Fatal(err)
	}
	commit := `{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["v2Checkpoint"],"writerFeatures":["v2Checkpoint"]}}
{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{},"createdTime":0}}
{"add":{"path":"missing.parquet","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true}}
`
	if err := os.WriteFile(filepath.Join(log, "00000000000000000000.json"), []byte(commit), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir).Snapshot(context.Background(), -1)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), dir) ||
		!strings.Contains(err.Error(), `"v2Checkpoint"`) {
		t.Fatalf("Snapshot: %v, want one line naming v2Checkpoint and %s", err, dir)
	}
}
