package inference

import (
	"strings"
	"testing"
)

// The content digest: a wiring test of our own definition (sha256 over the
// sorted manifest of name, size and sha256): what must change it does, the
// order files are listed in does not.
func TestManifestDigest(t *testing.T) {
	base := []fileDigest{{"config.json", 3, "aa"}, {"onnx/model.onnx", 10, "bb"}}
	d := manifestDigest(base)
	if !validDigest(d) {
		t.Fatalf("digest %q is not 64 lower-case hex digits", d)
	}
	cases := []struct {
		name  string
		files []fileDigest
		same  bool
	}{
		{"same files, other order", []fileDigest{base[1], base[0]}, true},
		{"a file's content", []fileDigest{{"config.json", 3, "ab"}, base[1]}, false},
		{"a file's size", []fileDigest{{"config.json", 4, "aa"}, base[1]}, false},
		{"a file's name", []fileDigest{{"config2.json", 3, "aa"}, base[1]}, false},
		{"a file more", append([]fileDigest{{"README.md", 1, "cc"}}, base...), false},
		{"a file less", base[:1], false},
	}
	for _, c := range cases {
		if got := manifestDigest(c.files) == d; got != c.same {
			t.Errorf("%s: same digest %v, want %v", c.name, got, c.same)
		}
	}
	for _, bad := range []string{"", "abc", strings.Repeat("A", 64), strings.Repeat("g", 64), "../" + d[3:]} {
		if validDigest(bad) {
			t.Errorf("validDigest(%q) = true", bad)
		}
	}
}
