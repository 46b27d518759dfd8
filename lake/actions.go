package lake

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Protocol is the protocol action: the reader and writer versions a table needs.
type Protocol struct {
	MinReaderVersion int      `json:"minReaderVersion"`
	MinWriterVersion int      `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures,omitempty"`
	WriterFeatures   []string `json:"writerFeatures,omitempty"`
}

// Format names the data file format (always parquet).
type Format struct {
	Provider string            `json:"provider"`
	Options  map[string]string `json:"options"`
}

// Metadata is the metaData action: table id, schema and configuration.
type Metadata struct {
	ID               string            `json:"id"`
	Name             string            `json:"name,omitempty"`
	Description      string            `json:"description,omitempty"`
	Format           Format            `json:"format"`
	SchemaString     string            `json:"schemaString"`
	PartitionColumns []string          `json:"partitionColumns"`
	Configuration    map[string]string `json:"configuration"`
	CreatedTime      *int64            `json:"createdTime,omitempty"`
}

// AddFile is the add action: a data file that belongs to the table.
type AddFile struct {
	Path             string             `json:"path"`
	PartitionValues  map[string]*string `json:"partitionValues"`
	Size             int64              `json:"size"`
	ModificationTime int64              `json:"modificationTime"`
	DataChange       bool               `json:"dataChange"`
	Stats            string             `json:"stats,omitempty"`
	Tags             map[string]string  `json:"tags,omitempty"`
	DeletionVector   json.RawMessage    `json:"deletionVector,omitempty"`
}

// RemoveFile is the remove action: a data file that no longer belongs.
type RemoveFile struct {
	Path              string             `json:"path"`
	DeletionTimestamp *int64             `json:"deletionTimestamp,omitempty"`
	DataChange        bool               `json:"dataChange"`
	ExtendedFileMeta  bool               `json:"extendedFileMetadata,omitempty"`
	PartitionValues   map[string]*string `json:"partitionValues,omitempty"`
	Size              *int64             `json:"size,omitempty"`
	DeletionVector    json.RawMessage    `json:"deletionVector,omitempty"`
}

// Txn is the txn action: the last version an application committed, which
// makes streaming and retried writes idempotent.
type Txn struct {
	AppID       string `json:"appId"`
	Version     int64  `json:"version"`
	LastUpdated *int64 `json:"lastUpdated,omitempty"`
}

// CommitInfo is free-form provenance; these are the fields Spark writes that
// history shows.
type CommitInfo struct {
	Timestamp           int64             `json:"timestamp"`
	Operation           string            `json:"operation"`
	OperationParameters map[string]any    `json:"operationParameters,omitempty"`
	ReadVersion         *int64            `json:"readVersion,omitempty"`
	IsBlindAppend       *bool             `json:"isBlindAppend,omitempty"`
	OperationMetrics    map[string]string `json:"operationMetrics,omitempty"`
	EngineInfo          string            `json:"engineInfo,omitempty"`
	TxnID               string            `json:"txnId,omitempty"`
}

// Action is one line of a commit: exactly one field is set.
type Action struct {
	Protocol   *Protocol   `json:"protocol,omitempty"`
	MetaData   *Metadata   `json:"metaData,omitempty"`
	Add        *AddFile    `json:"add,omitempty"`
	Remove     *RemoveFile `json:"remove,omitempty"`
	Txn        *Txn        `json:"txn,omitempty"`
	CommitInfo *CommitInfo `json:"commitInfo,omitempty"`
}

// FileStats is the parsed stats string of an add action.
type FileStats struct {
	NumRecords int64          `json:"numRecords"`
	MinValues  map[string]any `json:"minValues,omitempty"`
	MaxValues  map[string]any `json:"maxValues,omitempty"`
	NullCount  map[string]any `json:"nullCount,omitempty"`
}

// ParseStats decodes the add action's stats; ok is false when it has none.
func (a *AddFile) ParseStats() (s FileStats, ok bool, err error) {
	if a.Stats == "" {
		return s, false, nil
	}
	if err := json.Unmarshal([]byte(a.Stats), &s); err != nil {
		return s, false, fmt.Errorf("stats of %s: %w", a.Path, err)
	}
	return s, true, nil
}

// encodeCommit renders actions as newline-delimited JSON, one per line.
func encodeCommit(actions []Action) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range actions {
		if err := enc.Encode(&actions[i]); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// decodeCommit parses a commit file. Unknown action kinds (cdc,
// domainMetadata, ...) are skipped, as the protocol asks of readers.
func decodeCommit(data []byte) ([]Action, error) {
	var out []Action
	for line := 1; len(data) > 0; line++ {
		var l []byte
		if n := bytes.IndexByte(data, '\n'); n >= 0 {
			l, data = data[:n], data[n+1:]
		} else {
			l, data = data, nil
		}
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		var a Action
		if err := json.Unmarshal(l, &a); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, a)
	}
	return out, nil
}
