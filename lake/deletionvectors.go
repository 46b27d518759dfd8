package lake

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/uuid"
)

// DeletionVector is an add action's deletion vector descriptor: which rows
// of its data file are deleted (protocol: "Deletion Vectors"), stored in a
// file of its own beside the data ('u', 'p') or inline in the log ('i').
type DeletionVector struct {
	StorageType    string `json:"storageType"`
	PathOrInlineDv string `json:"pathOrInlineDv"`
	Offset         *int32 `json:"offset,omitempty"`
	SizeInBytes    int32  `json:"sizeInBytes"`
	Cardinality    int64  `json:"cardinality"`
}

// parseDV decodes a descriptor; nil for none (absent or JSON null).
func parseDV(raw json.RawMessage) (*DeletionVector, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dv := new(DeletionVector)
	if err := json.Unmarshal(raw, dv); err != nil {
		return nil, fmt.Errorf("deletion vector %s: %w", raw, err)
	}
	return dv, nil
}

// uniqueID names the deletion vector among a file's: with the path it is a
// file's identity in the log, so that a commit's remove of the file with its
// old vector and add with the new one are two files.
func (dv *DeletionVector) uniqueID() string {
	if dv.Offset != nil {
		return fmt.Sprintf("%s%s@%d", dv.StorageType, dv.PathOrInlineDv, *dv.Offset)
	}
	return dv.StorageType + dv.PathOrInlineDv
}

// fileKey is a file's identity in a snapshot: its decoded path, and its
// deletion vector's unique id when it has one.
func fileKey(path string, dvRaw json.RawMessage) (string, error) {
	p, err := unescapePath(path)
	if err != nil {
		return "", err
	}
	dv, err := parseDV(dvRaw)
	if err != nil || dv == nil {
		return p, err
	}
	return p + "\x00" + dv.uniqueID(), nil
}

// Rows is how many rows the file holds for readers: its stats' numRecords
// less the rows its deletion vector deletes; ok is false without stats.
func (a AddFile) Rows() (n int64, ok bool, err error) {
	st, ok, err := a.ParseStats()
	if err != nil || !ok {
		return 0, ok, err
	}
	dv, err := parseDV(a.DeletionVector)
	if err != nil {
		return 0, false, err
	}
	if dv != nil {
		return st.NumRecords - dv.Cardinality, true, nil
	}
	return st.NumRecords, true, nil
}

// dvMagic starts a serialized RoaringBitmapArray.
const dvMagic = 1681511377

// deletedRows reads the row indexes a deletion vector marks as deleted.
func (t *Table) deletedRows(ctx context.Context, dv *DeletionVector) (*roaringArray, error) {
	var data []byte
	switch dv.StorageType {
	case "i":
		raw, err := z85Decode(dv.PathOrInlineDv)
		if err != nil {
			return nil, fmt.Errorf("inline deletion vector: %w", err)
		}
		if int(dv.SizeInBytes) > len(raw) {
			return nil, fmt.Errorf("inline deletion vector: %d bytes, the log says %d", len(raw), dv.SizeInBytes)
		}
		data = raw[:dv.SizeInBytes]
	case "u", "p":
		name, err := dv.fileName()
		if err != nil {
			return nil, err
		}
		file, err := t.Storage.ReadFile(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("deletion vector: %w", err)
		}
		off := int64(1)
		if dv.Offset != nil {
			off = int64(*dv.Offset)
		}
		// At off: the vector's size (big-endian), the vector, its CRC-32.
		if len(file) < 1 || file[0] != 1 || int64(len(file)) < off+4+int64(dv.SizeInBytes) {
			return nil, fmt.Errorf("deletion vector file %s: version %v, %d bytes, want a vector of %d at %d", name, file[:min(1, len(file))], len(file), dv.SizeInBytes, off)
		}
		if size := int32(binary.BigEndian.Uint32(file[off:])); size != dv.SizeInBytes {
			return nil, fmt.Errorf("deletion vector file %s: size %d at %d, the log says %d", name, size, off, dv.SizeInBytes)
		}
		data = file[off+4 : off+4+int64(dv.SizeInBytes)]
	default:
		return nil, fmt.Errorf("deletion vector storage type %q is not in the protocol", dv.StorageType)
	}
	rows, err := readRoaringArray(data)
	if err != nil {
		return nil, err
	}
	if rows.cardinality() != uint64(dv.Cardinality) {
		return nil, fmt.Errorf("deletion vector holds %d rows, the log says %d", rows.cardinality(), dv.Cardinality)
	}
	return rows, nil
}

// fileName is where an on-disk deletion vector is, relative to the table
// (an absolute location for 'p').
func (dv *DeletionVector) fileName() (string, error) {
	if dv.StorageType == "p" {
		return unescapePath(dv.PathOrInlineDv)
	}
	s := dv.PathOrInlineDv
	if len(s) < 20 {
		return "", fmt.Errorf("deletion vector path %q: shorter than an encoded UUID", s)
	}
	prefix, enc := s[:len(s)-20], s[len(s)-20:]
	raw, err := z85Decode(enc)
	if err != nil {
		return "", fmt.Errorf("deletion vector path %q: %w", s, err)
	}
	id, err := uuid.FromBytes(raw)
	if err != nil {
		return "", err
	}
	name := "deletion_vector_" + id.String() + ".bin"
	if prefix != "" {
		name = prefix + "/" + name
	}
	return name, nil
}

// roaringArray is a 64-bit row set: 32-bit roaring bitmaps by the high half.
type roaringArray struct {
	high []uint32
	low  []*roaring.Bitmap
}

// readRoaringArray reads the protocol's RoaringBitmapArray: its magic
// number, the count of bitmaps (little-endian), then per bitmap its high
// 32 bits and a 32-bit roaring bitmap in the portable format.
func readRoaringArray(data []byte) (*roaringArray, error) {
	if len(data) < 12 || binary.LittleEndian.Uint32(data) != dvMagic {
		return nil, fmt.Errorf("deletion vector: not a RoaringBitmapArray (%d bytes)", len(data))
	}
	n := binary.LittleEndian.Uint64(data[4:])
	r := bytes.NewReader(data[12:])
	out := &roaringArray{}
	for i := uint64(0); i < n; i++ {
		var key uint32
		if err := binary.Read(r, binary.LittleEndian, &key); err != nil {
			return nil, fmt.Errorf("deletion vector: bitmap %d: %w", i, err)
		}
		bm := roaring.New()
		if _, err := bm.ReadFrom(r); err != nil {
			return nil, fmt.Errorf("deletion vector: bitmap %d: %w", i, err)
		}
		out.high, out.low = append(out.high, key), append(out.low, bm)
	}
	return out, nil
}

func (a *roaringArray) contains(row uint64) bool {
	for i, h := range a.high {
		if h == uint32(row>>32) {
			return a.low[i].Contains(uint32(row))
		}
	}
	return false
}

func (a *roaringArray) cardinality() uint64 {
	var n uint64
	for _, b := range a.low {
		n += b.GetCardinality()
	}
	return n
}

// z85Alphabet is ZeroMQ's Z85 (RFC 32), which the protocol encodes UUIDs
// and inline vectors with.
const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// z85Decode decodes Z85 text (a multiple of 5 characters) into 4 bytes per 5.
func z85Decode(s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return nil, fmt.Errorf("z85: length %d is not a multiple of 5", len(s))
	}
	out := make([]byte, 0, len(s)/5*4)
	for i := 0; i < len(s); i += 5 {
		var v uint64
		for _, c := range []byte(s[i : i+5]) {
			d := strings.IndexByte(z85Alphabet, c)
			if d < 0 {
				return nil, fmt.Errorf("z85: %q is not in the alphabet", c)
			}
			v = v*85 + uint64(d)
		}
		if v > 0xffffffff {
			return nil, fmt.Errorf("z85: block %q overflows", s[i:i+5])
		}
		out = binary.BigEndian.AppendUint32(out, uint32(v))
	}
	return out, nil
}
