package tracking

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const demo = "../testdata/models/tweet-sentiment-demo"

func TestRegisterAndResolve(t *testing.T) {
	r := Registry{Root: t.TempDir()}
	steps := []struct{ stage, alias string }{{"Production", ""}, {"Staging", "challenger"}, {"production", "champion"}, {"", ""}}
	for i, s := range steps {
		mv, err := r.Register("tweet-sentiment", demo, s.stage, s.alias)
		if err != nil || mv.Version != i+1 {
			t.Fatalf("register %d: %+v %v", i+1, mv, err)
		}
	}
	cases := []struct {
		uri     string
		version int
		err     string
	}{
		{"models:/tweet-sentiment/Production", 3, ""}, // the latest version in the stage
		{"models:/tweet-sentiment/production", 3, ""},
		{"models:/tweet-sentiment/Staging", 2, ""},
		{"models:/tweet-sentiment/None", 4, ""},
		{"models:/tweet-sentiment/1", 1, ""},
		{"models:/tweet-sentiment/latest", 4, ""},
		{"models:/tweet-sentiment@champion", 3, ""},
		{"models:/tweet-sentiment@challenger", 2, ""},
		{"models:/tweet-sentiment/Archived", 0, "no such version"},
		{"models:/tweet-sentiment/9", 0, "no such version"},
		{"models:/tweet-sentiment@nope", 0, "alias nope is not set"},
		{"models:/other/Production", 0, "go run ./scripts/register"},
		{"models:/tweet-sentiment/Shipping", 0, "unknown stage"},
		{"models:/tweet-sentiment", 0, "want models:/NAME/STAGE"},
		// Nothing may reach outside the registry.
		{"models:/../x/Production", 0, "invalid model name"},
		{"models:/..%2Fx/1", 0, "invalid model name"},
		{"models:/tweet-sentiment@../../etc", 0, "invalid"},
		{"models:/a\\b/1", 0, "invalid model name"},
		{"/nonexistent/folder", 0, "not a model folder"},
	}
	for _, c := range cases {
		got, err := r.Resolve(c.uri)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Resolve(%q) = %+v, %v; want error with %q", c.uri, got, err, c.err)
			}
			continue
		}
		if err != nil || got.Version != c.version {
			t.Errorf("Resolve(%q) = %+v, %v; want version %d", c.uri, got, err, c.version)
			continue
		}
		if _, err := os.Stat(filepath.Join(got.Dir, "onnx", "model.onnx")); err != nil || !strings.HasPrefix(got.Dir, r.Root) {
			t.Errorf("Resolve(%q) dir %s is not a model inside the registry", c.uri, got.Dir)
		}
	}
	if got, err := r.Resolve(demo); err != nil || got.Dir != demo {
		t.Errorf("plain folder: %+v %v", got, err)
	}
	for _, bad := range []string{"../evil", "a/b", ".hidden", ""} {
		if _, err := r.Register(bad, demo, "", ""); err == nil {
			t.Errorf("Register(%q) succeeded", bad)
		}
	}
	if _, err := r.Register("m", t.TempDir(), "", ""); err == nil {
		t.Error("registering a folder without config.json succeeded")
	}
}
