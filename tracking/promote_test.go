package tracking

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tweetsentiment/medallion/internal/oracle"
)

// Promoting a version as MLflow's transition_model_version_stage does: the
// same steps on our registry (read back by MLflow's own client) and on a
// registry MLflow's client writes itself end with the same stages, the old
// Production version Archived when asked. [reference: MLflow's client]
func TestPromoteArchivesAsMLflowDoes(t *testing.T) {
	oracle.Python(t)
	type step struct {
		version int
		stage   string
		archive bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"archive the old Production", []step{{1, "Production", false}, {3, "Staging", false}, {2, "Production", true}}},
		{"keep the old Production", []step{{1, "Production", false}, {2, "Production", false}}},
		{"archive the old Staging", []step{{1, "Staging", false}, {2, "Staging", false}, {3, "Staging", true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Registry{Root: t.TempDir()}
			ops := [][]any{}
			for range 3 {
				if _, err := r.Register("m", demo, "None", ""); err != nil {
					t.Fatal(err)
				}
				ops = append(ops, []any{"register"})
			}
			for _, s := range tc.steps {
				if _, err := r.Transition("m", s.version, s.stage, s.archive); err != nil {
					t.Fatal(err)
				}
				ops = append(ops, []any{"transition", s.version, s.stage, s.archive})
			}
			opsJSON, _ := json.Marshal(ops)
			var ours, mlflows map[string]any
			if err := json.Unmarshal(oracle.Run(t, "mlflow_stages.py", "read", r.Root, "m"), &ours); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(oracle.Run(t, "mlflow_stages.py", "reference", "m", string(opsJSON)), &mlflows); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ours) != fmt.Sprint(mlflows) {
				t.Errorf("MLflow reads our registry as %v; MLflow's own steps give %v", ours, mlflows)
			}
		})
	}
	if _, err := (Registry{Root: t.TempDir()}).Transition("m", 1, "Archived", true); err == nil {
		t.Error("archiving the existing versions of Archived should be refused, as MLflow refuses it")
	}
}
