package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
)

// TestPrintAnswer: the CLI's verdict line reads the answer's own score
// for "not in the catalogue", and says why when the finish put a twin
// that scored below the threshold first.
func TestPrintAnswer(t *testing.T) {
	r := func(part string, score float32) catalogue.Result {
		return catalogue.Result{Part: part, Name: "Hex nut", Score: score}
	}
	for _, tc := range []struct {
		name string
		a    catalogue.Answer
		want string
	}{
		{"a match", catalogue.Answer{Score: 0.8, Threshold: 0.4, Results: []catalogue.Result{r("N-Z", 0.8), r("N-B", 0.3)}},
			"best match N-Z (Hex nut), score 0.800 (threshold 0.400)"},
		{"a twin below the threshold first", catalogue.Answer{Score: 0.8, Threshold: 0.4, Results: []catalogue.Result{r("N-B", 0.3), r("N-Z", 0.8)}},
			"best match N-B (Hex nut), score 0.300: a look-alike in another finish scored 0.800 (threshold 0.400), the finish names this one"},
		{"not in the catalogue, re-ordered", catalogue.Answer{Score: 0.35, Threshold: 0.4, NotInCatalogue: true, Results: []catalogue.Result{r("N-B", 0.3), r("N-Z", 0.35)}},
			"NOT IN THE CATALOGUE: the best score 0.350 is below the threshold 0.400"},
	} {
		var b bytes.Buffer
		printAnswer(&b, tc.a, 0)
		if first, _, _ := strings.Cut(b.String(), "\n"); !strings.HasPrefix(first, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, first, tc.want)
		}
	}
}
