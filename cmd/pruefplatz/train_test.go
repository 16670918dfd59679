package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainRefusesWrongCostBelowOne: a wrong verdict priced below one look
// by a human would make every threshold accept everything; train says so
// and publishes nothing.
func TestTrainRefusesWrongCostBelowOne(t *testing.T) {
	reg := t.TempDir()
	cmd := newTrainCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--data", t.TempDir(), "--name", "parts", "--models", reg, "--wrong-cost", "0.5"})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "at least one look by a human") {
		t.Fatalf("--wrong-cost 0.5: %v\n%s", err, out.String())
	}
	if entries, _ := os.ReadDir(filepath.Join(reg, "parts")); len(entries) > 0 {
		t.Errorf("published %d entries after the refusal", len(entries))
	}
}
