package transforms

import (
	"encoding/json"
	"fmt"
)

// LineageKey is the commitInfo.operationParameters key under which every
// table commit of the pipeline records what it was computed from. Its value
// is a JSON string, not an object, because Spark reads operationParameters
// as a map of strings.
const LineageKey = "lineage"

// Lineage says what one table commit was computed from: the raw batch plan
// (bronze, quarantine), an upstream table's versions (silver from bronze,
// gold from silver, application from gold), and for gold the model.
type Lineage struct {
	Stage string `json:"stage"` // e.g. "raw:bronze", "bronze:silver", "silver:gold" (rescore), "gold:application"
	// Plan is the raw batch plan (LAKE/_checkpoints/plans/N.json) the rows came from.
	Plan  string `json:"plan,omitempty"`
	Batch *int64 `json:"batch,omitempty"`
	Files int    `json:"files,omitempty"`
	// Messages is the Kafka offsets the plan's ranges span (a Kafka source).
	Messages int64 `json:"messages,omitempty"`
	// Table and its versions (From..To, inclusive) are the upstream commits
	// read; Txn names the upstream commits by their txn when the version is
	// only known after the fact (the whole-chain job computes silver from the
	// very bronze rows of batch Txn, in memory).
	Table string `json:"table,omitempty"`
	From  *int64 `json:"from_version,omitempty"`
	To    *int64 `json:"to_version,omitempty"`
	Txn   string `json:"txn,omitempty"`
	// Mode is "append" (the commits since the last one) or "full" (the whole
	// upstream snapshot To: a rescore, a rebuild).
	Mode  string     `json:"mode,omitempty"`
	Model *ModelInfo `json:"model,omitempty"`
}

// ModelInfo names the model that scored gold.
type ModelInfo struct {
	URI     string `json:"uri"`
	Name    string `json:"name,omitempty"`
	Version int    `json:"version,omitempty"`
}

// Param renders the lineage as the operationParameters value.
func (l Lineage) Param() string {
	b, _ := json.Marshal(l) // plain strings and numbers: cannot fail
	return string(b)
}

// Params returns operationParameters holding the lineage, plus extra.
func (l Lineage) Params(extra map[string]string) map[string]string {
	out := map[string]string{LineageKey: l.Param()}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// ParseLineage reads a commit's lineage from its operationParameters; ok
// is false for commits that record none (other writers, older versions).
func ParseLineage(params map[string]any) (l Lineage, ok bool, err error) {
	s, ok := params[LineageKey].(string)
	if !ok {
		return l, false, nil
	}
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return l, false, fmt.Errorf("lineage %q: %w", s, err)
	}
	return l, true, nil
}

// String is the lineage as one line for people: where the rows came from.
func (l Lineage) String() string {
	var src string
	switch {
	case l.Plan != "" && l.Messages > 0:
		src = fmt.Sprintf("raw plan %s (%d Kafka offsets)", l.Plan, l.Messages)
	case l.Plan != "":
		src = fmt.Sprintf("raw plan %s (%d files)", l.Plan, l.Files)
	case l.Table != "" && l.From != nil && l.To != nil && *l.From != *l.To:
		src = fmt.Sprintf("%s v%d–v%d", l.Table, *l.From, *l.To)
	case l.Table != "" && l.To != nil:
		src = fmt.Sprintf("%s v%d", l.Table, *l.To)
	case l.Table != "":
		src = fmt.Sprintf("%s (txn %s)", l.Table, l.Txn)
	}
	if l.Mode == "full" {
		src += ", whole table"
	}
	if l.Model != nil {
		src += fmt.Sprintf("; model %s", l.Model.URI)
		if l.Model.Name != "" {
			src += fmt.Sprintf(" (%s v%d)", l.Model.Name, l.Model.Version)
		}
	}
	return l.Stage + ": " + src
}

// Int64 returns a pointer to v, for Lineage's optional versions.
func Int64(v int64) *int64 { return &v }
