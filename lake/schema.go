package lake

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Field is one column of a Delta schema.
type Field struct {
	Name     string         `json:"name"`
	Type     string         `json:"type"` // a primitive type name; nested types are not supported
	Nullable bool           `json:"nullable"`
	Metadata map[string]any `json:"metadata"`
}

// Schema is a Delta table schema (a struct type).
type Schema struct {
	Type   string  `json:"type"`
	Fields []Field `json:"fields"`
}

// Delta primitive type names used by this project's tables.
const (
	TypeString    = "string"
	TypeLong      = "long"
	TypeInteger   = "integer"
	TypeDouble    = "double"
	TypeBoolean   = "boolean"
	TypeTimestamp = "timestamp"
)

// NewSchema builds a schema of nullable columns from name/type pairs.
func NewSchema(cols ...string) Schema {
	s := Schema{Type: "struct"}
	for i := 0; i+1 < len(cols); i += 2 {
		s.Fields = append(s.Fields, Field{Name: cols[i], Type: cols[i+1], Nullable: true, Metadata: map[string]any{}})
	}
	return s
}

// ParseSchema reads a schemaString.
func ParseSchema(s string) (Schema, error) {
	var raw struct {
		Type   string `json:"type"`
		Fields []struct {
			Name     string          `json:"name"`
			Type     json.RawMessage `json:"type"`
			Nullable bool            `json:"nullable"`
			Metadata map[string]any  `json:"metadata"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return Schema{}, fmt.Errorf("schema: %w", err)
	}
	out := Schema{Type: raw.Type}
	for _, f := range raw.Fields {
		var typ string
		if err := json.Unmarshal(f.Type, &typ); err != nil {
			return Schema{}, fmt.Errorf("schema: column %q has a nested type, which this reader does not support", f.Name)
		}
		out.Fields = append(out.Fields, Field{Name: f.Name, Type: typ, Nullable: f.Nullable, Metadata: f.Metadata})
	}
	return out, nil
}

// String renders the schema as a schemaString.
func (s Schema) String() string {
	for i := range s.Fields {
		if s.Fields[i].Metadata == nil {
			s.Fields[i].Metadata = map[string]any{}
		}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// Field returns the column with the given name (Delta names are case-insensitive).
func (s Schema) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return Field{}, false
}

// Merge adds other's columns that s lacks, as nullable columns at the end.
// A column present in both with different types is an error.
func (s Schema) Merge(other Schema) (Schema, bool, error) {
	out := Schema{Type: "struct", Fields: append([]Field(nil), s.Fields...)}
	changed := false
	for _, f := range other.Fields {
		if have, ok := s.Field(f.Name); ok {
			if have.Type != f.Type {
				return s, false, fmt.Errorf("column %q: table has type %s, new data has %s", f.Name, have.Type, f.Type)
			}
			continue
		}
		f.Nullable = true
		out.Fields = append(out.Fields, f)
		changed = true
	}
	return out, changed, nil
}

// ArrowType maps a Delta primitive type to the Arrow type this package reads
// and writes it as. Timestamps are microseconds, adjusted to UTC, as the
// Delta protocol requires of the parquet files.
func ArrowType(t string) (arrow.DataType, error) {
	switch t {
	case TypeString:
		return arrow.BinaryTypes.String, nil
	case "binary":
		return arrow.BinaryTypes.Binary, nil
	case TypeLong:
		return arrow.PrimitiveTypes.Int64, nil
	case TypeInteger:
		return arrow.PrimitiveTypes.Int32, nil
	case "short":
		return arrow.PrimitiveTypes.Int16, nil
	case "byte":
		return arrow.PrimitiveTypes.Int8, nil
	case "float":
		return arrow.PrimitiveTypes.Float32, nil
	case TypeDouble:
		return arrow.PrimitiveTypes.Float64, nil
	case TypeBoolean:
		return arrow.FixedWidthTypes.Boolean, nil
	case "date":
		return arrow.FixedWidthTypes.Date32, nil
	case TypeTimestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
	case "timestamp_ntz":
		return &arrow.TimestampType{Unit: arrow.Microsecond}, nil
	}
	var p, sc int32
	if n, _ := fmt.Sscanf(t, "decimal(%d,%d)", &p, &sc); n == 2 {
		return &arrow.Decimal128Type{Precision: p, Scale: sc}, nil
	}
	return nil, fmt.Errorf("unsupported Delta type %q", t)
}

// ArrowSchema maps the schema to Arrow.
func (s Schema) ArrowSchema() (*arrow.Schema, error) {
	fields := make([]arrow.Field, len(s.Fields))
	for i, f := range s.Fields {
		t, err := ArrowType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		fields[i] = arrow.Field{Name: f.Name, Type: t, Nullable: f.Nullable}
	}
	return arrow.NewSchema(fields, nil), nil
}
