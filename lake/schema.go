package lake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Field is one column of a Delta schema.
type Field struct {
	Name string `json:"name"`
	// Type is a primitive type's name ("string", "decimal(10,2)"), or a
	// nested type (struct, array, map) as its compact JSON.
	Type     string         `json:"type"`
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
	var out Schema
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return Schema{}, fmt.Errorf("schema: %w", err)
	}
	for _, f := range out.Fields {
		if _, err := arrowType(f.Type, false); err != nil {
			return Schema{}, fmt.Errorf("schema: column %q: %w", f.Name, err)
		}
	}
	return out, nil
}

// UnmarshalJSON reads a field whose type is a name or a nested type.
func (f *Field) UnmarshalJSON(data []byte) error {
	var raw struct {
		Name     string          `json:"name"`
		Type     json.RawMessage `json:"type"`
		Nullable bool            `json:"nullable"`
		Metadata map[string]any  `json:"metadata"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*f = Field{Name: raw.Name, Nullable: raw.Nullable, Metadata: raw.Metadata}
	if err := json.Unmarshal(raw.Type, &f.Type); err == nil {
		return nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw.Type); err != nil {
		return fmt.Errorf("column %q: type: %w", raw.Name, err)
	}
	f.Type = compact.String()
	return nil
}

// MarshalJSON writes a nested type as JSON, a primitive one as its name.
func (f Field) MarshalJSON() ([]byte, error) {
	typ := json.RawMessage(strconv.Quote(f.Type))
	if isNested(f.Type) {
		typ = json.RawMessage(f.Type)
	}
	return json.Marshal(struct {
		Name     string          `json:"name"`
		Type     json.RawMessage `json:"type"`
		Nullable bool            `json:"nullable"`
		Metadata map[string]any  `json:"metadata"`
	}{f.Name, typ, f.Nullable, f.Metadata})
}

func isNested(t string) bool { return strings.HasPrefix(t, "{") }

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

// ArrowType maps a Delta type to the Arrow type this package reads and
// writes it as. Timestamps are microseconds, adjusted to UTC, as the Delta
// protocol requires of the parquet files (timestamp_ntz: not adjusted);
// structs, arrays and maps become Arrow structs, lists and maps.
func ArrowType(t string) (arrow.DataType, error) { return arrowType(t, false) }

// Arrow field metadata that carries a column's physical name and field id
// under column mapping, which reading matches the data files' columns by.
const (
	physicalNameKey = "delta.columnMapping.physicalName"
	fieldIDKey      = "delta.columnMapping.id"
)

// arrowType maps t; mapped keeps nested fields' physical names and ids
// (column mapping) in their Arrow metadata.
func arrowType(t string, mapped bool) (arrow.DataType, error) {
	if isNested(t) {
		return nestedArrowType(t, mapped)
	}
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
	fields, err := arrowFields(s.Fields, false)
	if err != nil {
		return nil, err
	}
	return arrow.NewSchema(fields, nil), nil
}

// ReadSchema is the schema a snapshot's data is read as: its logical
// names, with each column's physical name and id in the field metadata
// when the table maps columns (delta.columnMapping.mode name or id).
func (s *Snapshot) ReadSchema() (*arrow.Schema, error) {
	return s.Schema.ReadSchema(s.Metadata.Configuration["delta.columnMapping.mode"])
}

// ReadSchema is the schema data files are read as under column mapping
// mode ("", none, name or id): see Snapshot.ReadSchema.
func (s Schema) ReadSchema(mode string) (*arrow.Schema, error) {
	fields, err := arrowFields(s.Fields, mode == "name" || mode == "id")
	if err != nil {
		return nil, err
	}
	return arrow.NewSchema(fields, nil), nil
}

func arrowFields(fs []Field, mapped bool) ([]arrow.Field, error) {
	out := make([]arrow.Field, len(fs))
	for i, f := range fs {
		t, err := arrowType(f.Type, mapped)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		out[i] = arrow.Field{Name: f.Name, Type: t, Nullable: f.Nullable}
		if mapped {
			var keys, vals []string
			if p, ok := f.Metadata[physicalNameKey].(string); ok {
				keys, vals = append(keys, physicalNameKey), append(vals, p)
			}
			if id, ok := f.Metadata[fieldIDKey].(float64); ok {
				keys, vals = append(keys, fieldIDKey), append(vals, strconv.FormatInt(int64(id), 10))
			}
			out[i].Metadata = arrow.NewMetadata(keys, vals)
		}
	}
	return out, nil
}

// nestedArrowType maps a struct, array or map type.
func nestedArrowType(t string, mapped bool) (arrow.DataType, error) {
	var n struct {
		Type              string          `json:"type"`
		Fields            []Field         `json:"fields"`
		ElementType       json.RawMessage `json:"elementType"`
		ContainsNull      bool            `json:"containsNull"`
		KeyType           json.RawMessage `json:"keyType"`
		ValueType         json.RawMessage `json:"valueType"`
		ValueContainsNull bool            `json:"valueContainsNull"`
	}
	if err := json.Unmarshal([]byte(t), &n); err != nil {
		return nil, fmt.Errorf("type %s: %w", t, err)
	}
	sub := func(raw json.RawMessage) (arrow.DataType, error) {
		var name string
		if json.Unmarshal(raw, &name) == nil {
			return arrowType(name, mapped)
		}
		return arrowType(string(raw), mapped)
	}
	switch n.Type {
	case "struct":
		fields, err := arrowFields(n.Fields, mapped)
		if err != nil {
			return nil, err
		}
		return arrow.StructOf(fields...), nil
	case "array":
		elem, err := sub(n.ElementType)
		if err != nil {
			return nil, err
		}
		return arrow.ListOfField(arrow.Field{Name: "element", Type: elem, Nullable: n.ContainsNull}), nil
	case "map":
		key, err := sub(n.KeyType)
		if err != nil {
			return nil, err
		}
		val, err := sub(n.ValueType)
		if err != nil {
			return nil, err
		}
		return arrow.MapOf(key, val), nil
	}
	return nil, fmt.Errorf("unsupported Delta type %s", t)
}
