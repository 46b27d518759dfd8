package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

const logDir = "_delta_log"

// ErrNotTable means the location holds no Delta log.
var ErrNotTable = errors.New("not a Delta table")

// Snapshot is the state of a table at one version: the result of replaying
// its log (checkpoint first, then the JSON commits after it).
type Snapshot struct {
	Version  int64
	Protocol Protocol
	Metadata Metadata
	Schema   Schema
	files    map[string]*AddFile    // by fileKey: decoded path (and deletion vector)
	removed  map[string]*RemoveFile // tombstones, by fileKey: a checkpoint keeps them until retention
	txns     map[string]Txn
}

func newSnapshot(version int64) *Snapshot {
	return &Snapshot{Version: version, files: map[string]*AddFile{}, removed: map[string]*RemoveFile{}, txns: map[string]Txn{}}
}

// Files returns the active data files, sorted by path.
func (s *Snapshot) Files() []AddFile {
	out := make([]AddFile, 0, len(s.files))
	for _, f := range s.files {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// NumRecords adds up numRecords of the active files' stats, less the rows
// their deletion vectors delete; ok is false when a file has no stats, in
// which case only reading the data can tell.
func (s *Snapshot) NumRecords() (n int64, ok bool) {
	for _, f := range s.files {
		rows, has, err := f.Rows()
		if err != nil || !has {
			return 0, false
		}
		n += rows
	}
	return n, true
}

// TxnVersion returns the last version an application recorded with a txn action.
func (s *Snapshot) TxnVersion(appID string) (int64, bool) {
	t, ok := s.txns[appID]
	return t.Version, ok
}

// logListing is what the _delta_log folder holds.
type logListing struct {
	commits     map[int64]bool
	checkpoints map[int64][]string // version → file names of a complete checkpoint
}

func (l logListing) latest() int64 {
	v := int64(-1)
	for c := range l.commits {
		v = max(v, c)
	}
	for c := range l.checkpoints {
		v = max(v, c)
	}
	return v
}

func commitName(v int64) string { return fmt.Sprintf("%s/%020d.json", logDir, v) }

func listLog(ctx context.Context, st Storage) (logListing, error) {
	names, err := st.List(ctx, logDir)
	if errors.Is(err, fs.ErrNotExist) {
		return logListing{}, fmt.Errorf("%w: no %s folder", ErrNotTable, logDir)
	}
	if err != nil {
		return logListing{}, fmt.Errorf("list %s: %w", logDir, err)
	}
	l := logListing{commits: map[int64]bool{}, checkpoints: map[int64][]string{}}
	parts := map[int64]map[int][]string{} // version → part count → names
	for _, n := range names {
		if len(n) < 21 || n[20] != '.' {
			continue
		}
		v, err := strconv.ParseInt(n[:20], 10, 64)
		if err != nil {
			continue
		}
		rest := n[21:]
		switch {
		case rest == "json":
			l.commits[v] = true
		case rest == "checkpoint.parquet":
			l.checkpoints[v] = []string{n}
		case strings.HasPrefix(rest, "checkpoint.") && strings.HasSuffix(rest, ".parquet"):
			f := strings.Split(strings.TrimSuffix(strings.TrimPrefix(rest, "checkpoint."), ".parquet"), ".")
			if len(f) != 2 {
				continue // a V2 checkpoint: needs the v2Checkpoint reader feature
			}
			total, err := strconv.Atoi(f[1])
			if err != nil {
				continue
			}
			if parts[v] == nil {
				parts[v] = map[int][]string{}
			}
			parts[v][total] = append(parts[v][total], n)
		}
	}
	for v, byTotal := range parts {
		for total, ns := range byTotal {
			if len(ns) == total { // only a complete multi-part checkpoint counts
				sort.Strings(ns)
				l.checkpoints[v] = ns
			}
		}
	}
	return l, nil
}

// loadSnapshot replays the log up to version (or the latest when version < 0).
// It starts from the checkpoint _last_checkpoint names when that one is
// usable, so its cost does not grow with the table's age, and otherwise from
// a listing of the log.
func loadSnapshot(ctx context.Context, st Storage, version int64) (*Snapshot, error) {
	s, err := snapshotFromHint(ctx, st, version)
	if err != nil {
		return nil, err
	}
	if s == nil {
		if s, err = snapshotFromListing(ctx, st, version); err != nil {
			return nil, err
		}
	}
	if s.Metadata.ID == "" && s.Metadata.SchemaString == "" && s.Metadata.Format.Provider == "" {
		return nil, fmt.Errorf("%w: no metaData action up to version %d", ErrNotTable, s.Version)
	}
	if err := checkReadable(s.Protocol, s.Metadata); err != nil {
		return nil, err
	}
	if s.Metadata.SchemaString != "" {
		if s.Schema, err = ParseSchema(s.Metadata.SchemaString); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// snapshotFromHint reads the checkpoint _last_checkpoint names, then the
// commits after it one by one until the next is missing (or version is
// reached), with no listing of the log. It returns nil, and the caller lists
// the log, whenever the hint cannot be trusted: absent, corrupt, naming a
// checkpoint that is missing, incomplete or unreadable, newer than version,
// or followed by a gap. (Its size is not checked: Spark counts rows of
// action kinds this reader skips, such as domainMetadata.) The one error it
// returns is from a commit it found but could not decode.
func snapshotFromHint(ctx context.Context, st Storage, version int64) (*Snapshot, error) {
	lc, err := readLastCheckpoint(ctx, st)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("delta: ignoring _last_checkpoint, listing the log instead", "err", err)
		}
		return nil, nil
	}
	if version >= 0 && version < lc.Version {
		return nil, nil // time travel to before the checkpoint
	}
	s := newSnapshot(lc.Version)
	for _, name := range lc.files() {
		actions, err := readCheckpoint(ctx, st, logDir+"/"+name)
		if err != nil {
			slog.Warn("delta: _last_checkpoint names an unreadable checkpoint, listing the log instead", "checkpoint", name, "err", err)
			return nil, nil
		}
		if err := s.apply(actions); err != nil {
			return nil, nil
		}
	}
	for version < 0 || s.Version < version {
		data, err := st.ReadFile(ctx, commitName(s.Version+1))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, nil // let the listing report what is wrong
		}
		actions, err := decodeCommit(data)
		if err != nil {
			return nil, fmt.Errorf("read version %d: %w", s.Version+1, err)
		}
		if err := s.apply(actions); err != nil {
			return nil, fmt.Errorf("version %d: %w", s.Version+1, err)
		}
		s.Version++
	}
	if version >= 0 && s.Version != version {
		return nil, nil // the listing gives the error: a gap, or a version beyond the latest
	}
	if version < 0 && s.Version == lc.Version {
		// No commit after the checkpoint. Either the table is at that
		// version, or _last_checkpoint is stale and the commits after it
		// were cleaned up behind a newer checkpoint: only a listing tells.
		l, err := listLog(ctx, st)
		if err != nil || l.latest() != lc.Version {
			return nil, nil
		}
	}
	return s, nil
}

// snapshotFromListing lists the log and replays it from the newest complete
// checkpoint at or before the target version.
func snapshotFromListing(ctx context.Context, st Storage, version int64) (*Snapshot, error) {
	l, err := listLog(ctx, st)
	if err != nil {
		return nil, err
	}
	latest := l.latest()
	if latest < 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrNotTable, logDir)
	}
	target := latest
	if version >= 0 {
		if version > latest {
			return nil, fmt.Errorf("version %d does not exist: the latest is %d", version, latest)
		}
		target = version
	}
	cp := int64(-1)
	for v := range l.checkpoints {
		if v <= target && v > cp {
			cp = v
		}
	}
	// Every version after the checkpoint up to the target must be present: a
	// gap means a lost or half-copied log, never something to skip over.
	for v := cp + 1; v <= target; v++ {
		if !l.commits[v] {
			return nil, fmt.Errorf("delta log is not contiguous: version %d is missing", v)
		}
	}
	s := newSnapshot(target)
	if cp >= 0 {
		for _, name := range l.checkpoints[cp] {
			actions, err := readCheckpoint(ctx, st, logDir+"/"+name)
			if err != nil {
				return nil, fmt.Errorf("read checkpoint %s: %w", name, err)
			}
			if err := s.apply(actions); err != nil {
				return nil, fmt.Errorf("checkpoint %s: %w", name, err)
			}
		}
	}
	for v := cp + 1; v <= target; v++ {
		actions, err := readCommit(ctx, st, v)
		if err != nil {
			return nil, err
		}
		if err := s.apply(actions); err != nil {
			return nil, fmt.Errorf("version %d: %w", v, err)
		}
	}
	return s, nil
}

func readCommit(ctx context.Context, st Storage, v int64) ([]Action, error) {
	data, err := st.ReadFile(ctx, commitName(v))
	if err != nil {
		return nil, fmt.Errorf("read version %d: %w", v, err)
	}
	actions, err := decodeCommit(data)
	if err != nil {
		return nil, fmt.Errorf("read version %d: %w", v, err)
	}
	return actions, nil
}

func (s *Snapshot) apply(actions []Action) error {
	for _, a := range actions {
		switch {
		case a.Protocol != nil:
			s.Protocol = *a.Protocol
		case a.MetaData != nil:
			s.Metadata = *a.MetaData
		case a.Add != nil:
			p, err := fileKey(a.Add.Path, a.Add.DeletionVector)
			if err != nil {
				return fmt.Errorf("add %q: %w", a.Add.Path, err)
			}
			add := *a.Add
			s.files[p] = &add
			delete(s.removed, p)
		case a.Remove != nil:
			p, err := fileKey(a.Remove.Path, a.Remove.DeletionVector)
			if err != nil {
				return fmt.Errorf("remove %q: %w", a.Remove.Path, err)
			}
			rm := *a.Remove
			s.removed[p] = &rm
			delete(s.files, p)
		case a.Txn != nil:
			s.txns[a.Txn.AppID] = *a.Txn
		}
	}
	return nil
}

// readerFeatures are the table features this reader implements. A feature
// that is only a writer's (CHECK constraints, generated columns, change
// data feed, …) never appears among a table's reader features.
var readerFeatures = map[string]bool{
	"columnMapping":       true,
	"deletionVectors":     true,
	"timestampNtz":        true,
	"vacuumProtocolCheck": true, // asks writers, not readers, to check the protocol
}

// checkReadable refuses, before any row is read, tables that need reader
// features this package lacks, rather than returning wrong rows.
func checkReadable(p Protocol, m Metadata) error {
	switch {
	case p.MinReaderVersion > 3:
		return fmt.Errorf("unsupported Delta protocol: minReaderVersion %d (this reader supports up to 3)", p.MinReaderVersion)
	case p.MinReaderVersion == 3:
		for _, f := range p.ReaderFeatures {
			if !readerFeatures[f] {
				return fmt.Errorf("unsupported Delta reader feature %q", f)
			}
		}
	}
	switch mode := m.Configuration["delta.columnMapping.mode"]; mode {
	case "", "none", "name", "id":
	default:
		return fmt.Errorf("unsupported Delta column mapping mode %q", mode)
	}
	return nil
}

// writerFeatures are the table features this writer implements: it
// appends, overwrites and compacts under the plain protocol (writer
// version 2) and keeps a table's delta.appendOnly.
var writerFeatures = map[string]bool{"appendOnly": true, "invariants": true}

// legacyWriterFeatures name what each writer version above 2 brings.
var legacyWriterFeatures = map[int]string{3: "checkConstraints", 4: "changeDataFeed/generatedColumns", 5: "columnMapping", 6: "identityColumns"}

// checkWritable refuses, before anything is written, a table whose writer
// features this writer does not implement: its writes could break what the
// feature promises (a constraint unchecked, deletion vectors or mapped
// columns ignored).
func checkWritable(s *Snapshot) error {
	p := s.Protocol
	feature := legacyWriterFeatures[p.MinWriterVersion]
	if p.MinWriterVersion >= 7 {
		for _, f := range p.WriterFeatures {
			if !writerFeatures[f] {
				feature = f
				break
			}
		}
	} else if p.MinWriterVersion > 6 {
		feature = fmt.Sprintf("minWriterVersion %d", p.MinWriterVersion)
	}
	if feature == "" {
		for _, f := range s.Schema.Fields {
			if _, ok := f.Metadata["delta.invariants"]; ok {
				feature = "invariants (column " + f.Name + ")"
				break
			}
		}
	}
	if feature != "" {
		return fmt.Errorf("refusing to write: this writer does not implement the Delta writer feature %s", feature)
	}
	return nil
}

// Commit is one entry of a table's history.
type Commit struct {
	Version    int64
	Info       CommitInfo
	Adds       []AddFile
	Removes    []RemoveFile
	HasTxn     bool
	Txn        Txn
	NumActions int
}

// history reads the JSON commits in [from, to] (to < 0: the latest).
func history(ctx context.Context, st Storage, from, to int64) ([]Commit, error) {
	l, err := listLog(ctx, st)
	if err != nil {
		return nil, err
	}
	if to < 0 {
		to = l.latest()
	}
	var out []Commit
	for v := max(from, 0); v <= to; v++ {
		if !l.commits[v] {
			continue // folded into a checkpoint and cleaned up
		}
		actions, err := readCommit(ctx, st, v)
		if err != nil {
			return nil, err
		}
		c := Commit{Version: v, NumActions: len(actions)}
		for _, a := range actions {
			switch {
			case a.CommitInfo != nil:
				c.Info = *a.CommitInfo
			case a.Add != nil:
				c.Adds = append(c.Adds, *a.Add)
			case a.Remove != nil:
				c.Removes = append(c.Removes, *a.Remove)
			case a.Txn != nil:
				c.HasTxn, c.Txn = true, *a.Txn
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// decodeInto turns a checkpoint row (plain Go values) into an action struct.
func decodeInto(v any, dst any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

func unescapePath(p string) (string, error) {
	s, err := url.PathUnescape(p)
	if err != nil {
		return "", fmt.Errorf("data file path %q: %w", p, err)
	}
	return s, nil
}
