package transforms

import (
	"slices"

	"github.com/tweetsentiment/medallion/lake"
)

// Stage is one step of the medallion chain. Each reads what the one before
// it wrote: the raw files, then the bronze, silver and gold tables.
type Stage int

// The chain's stages, in order.
const (
	RawBronze Stage = iota
	BronzeSilver
	SilverGold
	GoldApplication
)

// Stages are the chain's stages in order.
var Stages = []Stage{RawBronze, BronzeSilver, SilverGold, GoldApplication}

var stageNames = [...]string{"raw:bronze", "bronze:silver", "silver:gold", "gold:application"}

// String is the stage's name, as --stages and the commits' lineage spell it.
func (s Stage) String() string { return stageNames[s] }

// ParseStage reads a stage's name.
func ParseStage(name string) (Stage, bool) {
	i := slices.Index(stageNames[:], name)
	return Stage(i), i >= 0
}

// Output is the table the stage's rows go to (besides quarantine, where
// raw:bronze and bronze:silver put what they cannot carry on).
func (s Stage) Output() Table {
	return [...]Table{BronzeTable, SilverTable, GoldTable, ApplicationTable}[s]
}

// Input is what the stage reads: "raw" (the input files) or a table's name.
func (s Stage) Input() string {
	if s == RawBronze {
		return "raw"
	}
	return (s - 1).Output().Name
}

// Table is one of the lake's tables, defined once for the pipeline, its
// monitoring, the maintenance commands and the EDA.
type Table struct {
	Name   string      // its folder under the lake
	Schema lake.Schema // the columns the pipeline writes (bronze adds one per unknown top-level field)
	// Writers are the stages that commit to it.
	Writers []Stage
	// Tallies are the counts its batch commits record beyond rows (see
	// Tally), which a run's accounting reads back.
	Tallies []string
	// Stream names its monitoring series after the course's streams ("":
	// not monitored).
	Stream string
}

// The lake's tables.
var (
	BronzeTable      = Table{Name: "bronze", Schema: BronzeSchema, Writers: []Stage{RawBronze}, Tallies: BronzeTallies, Stream: "bronze_stream"}
	SilverTable      = Table{Name: "silver", Schema: SilverSchema, Writers: []Stage{BronzeSilver}, Tallies: SilverTallies, Stream: "silver_stream"}
	QuarantineTable  = Table{Name: "quarantine", Schema: QuarantineSchema, Writers: []Stage{RawBronze, BronzeSilver}}
	GoldTable        = Table{Name: "gold", Schema: GoldSchema, Writers: []Stage{SilverGold}, Stream: "gold_stream"}
	ApplicationTable = Table{Name: "application", Schema: ApplicationSchema, Writers: []Stage{GoldApplication}}
)

// Tables are the lake's tables in pipeline order: what reset removes and
// optimize compacts.
var Tables = []Table{BronzeTable, SilverTable, QuarantineTable, GoldTable, ApplicationTable}

// Location is the table's folder under the lake lakeDir.
func (t Table) Location(lakeDir string) string { return lake.Join(lakeDir, t.Name) }

// WrittenBy reports whether stage s commits to the table.
func (t Table) WrittenBy(s Stage) bool { return slices.Contains(t.Writers, s) }

// TableNamed returns the catalog's table called name.
func TableNamed(name string) (Table, bool) {
	i := slices.IndexFunc(Tables, func(t Table) bool { return t.Name == name })
	if i < 0 {
		return Table{}, false
	}
	return Tables[i], true
}

// TableNames are the names of Tables, in pipeline order.
func TableNames() []string {
	names := make([]string, len(Tables))
	for i, t := range Tables {
		names[i] = t.Name
	}
	return names
}
