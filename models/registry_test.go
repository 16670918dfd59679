package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

func testCard(name, version string) *Card {
	return &Card{
		Name: name, Version: version, Labels: []string{"ok", "scratch", "dent"}, OKLabels: []string{"ok"},
		Input:        inspector.DefaultSpec(64),
		Thresholds:   inspector.Thresholds{Accept: 0.9, Reject: 0.2},
		ThresholdWhy: ThresholdRule, Architecture: "cnn", Outputs: "logits", Tool: "test",
		Created: time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC),
	}
}

// fakeModel writes a stand-in model file; the registry only hashes it.
func fakeModel(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func publish(t *testing.T, r Registry, name, version, content string) *Card {
	t.Helper()
	c := testCard(name, version)
	if _, err := r.Publish(c, map[string]string{ModelFile: fakeModel(t, content)}); err != nil {
		t.Fatal(err)
	}
	return c
}

func activeKey(t *testing.T, r Registry) string {
	t.Helper()
	a, err := r.ReadActive()
	if err != nil {
		t.Fatal(err)
	}
	return a.Name + "/" + a.Version
}

func TestCardRoundTrip(t *testing.T) {
	r := Registry{Root: t.TempDir()}
	c := testCard("parts", "v1")
	c.Training = &TrainingInfo{Backend: "onnx", Epochs: 20, EpochsRun: 14, BestEpoch: 9, Batch: 32, LearningRate: 0.01,
		Schedule: "cosine", Seed: 7, Augmentation: json.RawMessage(`{"steps":[{"op":"flip","p":0.5}]}`),
		Curve: []EpochStats{{Epoch: 1, TrainLoss: 1.2, ValAcc: 0.5}}}
	c.Dataset = &DatasetInfo{Path: "datasets/parts", ManifestHash: "abc", ClassCounts: map[string]int{"ok": 3, "scratch": 2, "dent": 1}}
	c.Metrics = map[string]*Metrics{"test": ComputeMetrics(c.Labels, []int{0, 1, 2}, []int{0, 1, 1})}
	c.Verification = &Verification{Runtime: "onnxruntime", Tolerance: 1e-4, MaxAbsDiff: 2e-6,
		References: []Reference{{File: "a.jpg", Trained: []float32{0.1, 0.9, 0}, Exported: []float32{0.1, 0.9, 0}}}}
	c.Files = map[string]string{"curve": "curve.png"}
	curve := filepath.Join(t.TempDir(), "curve.png")
	if err := os.WriteFile(curve, []byte("png"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, err := r.Publish(c, map[string]string{ModelFile: fakeModel(t, "model bytes"), "curve.png": curve})
	if err != nil {
		t.Fatal(err)
	}
	if dir != r.Dir("parts", "v1") {
		t.Errorf("published to %s", dir)
	}
	if want, _ := FileSHA256(filepath.Join(dir, ModelFile)); c.ONNXSHA256 != want || want == "" {
		t.Errorf("card sha %q, file sha %q", c.ONNXSHA256, want)
	}
	got, err := r.Get("parts", "v1")
	if err != nil {
		t.Fatal(err)
	}
	// Compared as JSON: card.json is indented, so the raw augmentation
	// JSON comes back with different whitespace.
	gj, _ := json.Marshal(got)
	cj, _ := json.Marshal(c)
	if string(gj) != string(cj) || !got.Created.Equal(c.Created) || !reflect.DeepEqual(got.Labels, c.Labels) {
		t.Fatalf("card changed on the way through card.json:\n got %s\nwant %s", gj, cj)
	}
	if _, err := os.Stat(filepath.Join(dir, "curve.png")); err != nil {
		t.Error(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, CardFile))
	for _, key := range []string{`"ok_labels"`, `"onnx_sha256"`, `"manifest_sha256"`, `"per_class"`, `"threshold_rule"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("card.json lacks %s", key)
		}
	}
}

func TestLoadCardRefusesBadCards(t *testing.T) {
	good, _ := json.Marshal(func() *Card { c := testCard("m", "v1"); c.ONNXSHA256 = "00"; return c }())
	mutate := func(f func(map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := []struct{ name, json, mention string }{
		{"not json", `{"name": "m",`, "card.json"},
		{"wrong type", mutate(func(m map[string]any) { m["labels"] = "ok,dent" }), "labels"},
		{"no name", mutate(func(m map[string]any) { delete(m, "name") }), "name"},
		{"one label", mutate(func(m map[string]any) { m["labels"] = []string{"ok"} }), "two labels"},
		{"no sha", mutate(func(m map[string]any) { delete(m, "onnx_sha256") }), "onnx_sha256"},
		{"ok label unknown", mutate(func(m map[string]any) { m["ok_labels"] = []string{"fine"} }), `"fine"`},
		{"bad input", mutate(func(m map[string]any) { m["input"].(map[string]any)["channels"] = 2 }), "channels"},
		{"bad outputs", mutate(func(m map[string]any) { m["outputs"] = "scores" }), "scores"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), CardFile)
			if err := os.WriteFile(p, []byte(c.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadCard(p)
			if !errors.Is(err, ErrBadCard) || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("LoadCard = %v, want ErrBadCard mentioning %s", err, c.mention)
			}
		})
	}
	p := filepath.Join(t.TempDir(), CardFile)
	os.WriteFile(p, good, 0o644)
	if _, err := LoadCard(p); err != nil {
		t.Fatalf("the unmodified card: %v", err)
	}
}

func TestPublishFailureLeavesNothing(t *testing.T) {
	r := Registry{Root: t.TempDir()}
	publish(t, r, "parts", "v1", "one")
	c := testCard("parts", "v2")
	// Files are copied in name order: the model is in the temporary folder
	// when the missing file fails.
	_, err := r.Publish(c, map[string]string{ModelFile: fakeModel(t, "two"), "zz-missing.png": filepath.Join(t.TempDir(), "nope.png")})
	if err == nil {
		t.Fatal("publish with a missing file succeeded")
	}
	entries, _ := os.ReadDir(filepath.Join(r.Root, "parts"))
	if len(entries) != 1 || entries[0].Name() != "v1" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("after the failed publish parts/ holds %v, want only v1", names)
	}
	if _, err := r.Get("parts", "v2"); !errors.Is(err, ErrNoModel) {
		t.Fatalf("Get v2 = %v, want ErrNoModel", err)
	}
	if v := r.NextVersion("parts"); v != "v2" {
		t.Errorf("NextVersion = %s, want v2", v)
	}
	// A crash between copy and rename leaves a hidden temporary folder: it is no version.
	if err := os.MkdirAll(filepath.Join(r.Root, "parts", ".publish-123"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.Root, "parts", ".publish-123", CardFile), []byte("{"), 0o644)
	cards, problems := r.List()
	if len(cards) != 1 || len(problems) != 0 {
		t.Fatalf("List = %d cards, problems %v; want 1 and none", len(cards), problems)
	}
	if _, err := r.Publish(testCard("parts", "v1"), map[string]string{ModelFile: fakeModel(t, "again")}); err == nil {
		t.Error("an existing version was overwritten")
	}
	if _, err := r.Publish(testCard("../evil", "v1"), map[string]string{ModelFile: fakeModel(t, "x")}); err == nil {
		t.Error("a name with a path separator was published")
	}
}

func TestVersionsAndList(t *testing.T) {
	r := Registry{Root: t.TempDir()}
	if v := r.NextVersion("parts"); v != "v1" {
		t.Fatalf("NextVersion of nothing = %s", v)
	}
	for i := 1; i <= 10; i++ {
		publish(t, r, "parts", r.NextVersion("parts"), fmt.Sprint(i))
	}
	publish(t, r, "defects", "v1", "d")
	latest, err := r.Get("parts", "latest")
	if err != nil || latest.Version != "v10" {
		t.Fatalf("latest = %v, %v; want v10 (numeric, not string order)", latest, err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir("parts", "v3"), CardFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	cards, problems := r.List()
	if len(cards) != 10 || len(problems) != 1 || !errors.Is(problems[0], ErrBadCard) {
		t.Fatalf("List = %d cards, problems %v; want 10 and the broken v3", len(cards), problems)
	}
	if cards[0].Name != "defects" || cards[1].Version != "v1" || cards[2].Version != "v2" || cards[3].Version != "v4" {
		t.Errorf("List order: %s/%s %s %s %s", cards[0].Name, cards[0].Version, cards[1].Version, cards[2].Version, cards[3].Version)
	}
}

func TestActivateRefusesAndKeepsActive(t *testing.T) {
	r := Registry{Root: t.TempDir()}
	publish(t, r, "parts", "v1", "one")
	publish(t, r, "parts", "v2", "two")
	publish(t, r, "parts", "v3", "three")
	if _, err := r.ReadActive(); !errors.Is(err, ErrNoModel) {
		t.Fatalf("ReadActive on a fresh registry = %v", err)
	}
	var checked []string
	ok := func(c *Card, path string) error {
		checked = append(checked, c.Version+":"+filepath.Base(path))
		return nil
	}
	if _, err := r.Activate("parts", "v1", ok); err != nil {
		t.Fatal(err)
	}
	if len(checked) != 1 || checked[0] != "v1:"+ModelFile {
		t.Fatalf("check calls %v", checked)
	}

	// Tampered file: sha256 differs from the card.
	if err := os.WriteFile(r.ModelPath(&Card{Name: "parts", Version: "v2"}), []byte("evil"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Activate("parts", "v2", ok); !errors.Is(err, ErrTampered) {
		t.Fatalf("tampered: %v, want ErrTampered", err)
	}
	// Shape mismatch reported by the runtime check.
	shape := func(c *Card, _ string) error {
		return fmt.Errorf("%w: output [1 4], the card has %d labels", inspector.ErrModelShape, len(c.Labels))
	}
	if _, err := r.Activate("parts", "v3", shape); !errors.Is(err, inspector.ErrModelShape) || !strings.Contains(err.Error(), "parts/v3") {
		t.Fatalf("shape mismatch: %v, want ErrModelShape naming parts/v3", err)
	}
	if _, err := r.Activate("parts", "v9", ok); !errors.Is(err, ErrNoModel) {
		t.Fatalf("unknown version: %v", err)
	}
	if got := activeKey(t, r); got != "parts/v1" {
		t.Fatalf("active %s after refusals, want parts/v1", got)
	}
	if a, _ := r.ReadActive(); len(a.History) != 0 {
		t.Fatalf("refusals added history %v", a.History)
	}

	// An unreadable active.json is reported, not overwritten.
	af := filepath.Join(r.Root, ActiveFile)
	before, _ := os.ReadFile(af)
	os.WriteFile(af, []byte("{broken"), 0o644)
	if _, err := r.Activate("parts", "v3", ok); err == nil {
		t.Fatal("activate over a broken active.json succeeded")
	}
	if b, _ := os.ReadFile(af); string(b) != "{broken" {
		t.Fatalf("broken active.json rewritten to %s", b)
	}
	os.WriteFile(af, before, 0o644)
}

func TestRollback(t *testing.T) {
	r := Registry{Root: t.TempDir()}
	for _, v := range []string{"v1", "v2", "v3"} {
		publish(t, r, "parts", v, v)
	}
	if _, err := r.Rollback(nil); !errors.Is(err, ErrNoModel) {
		t.Fatalf("rollback with nothing active: %v", err)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		if _, err := r.Activate("parts", v, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Activate("parts", "v3", nil); err != nil {
		t.Fatal(err)
	}
	if a, _ := r.ReadActive(); len(a.History) != 2 {
		t.Fatalf("re-activating the active model changed history: %v", a.History)
	}
	// A refused rollback target keeps the active model and its history.
	refuse := func(c *Card, _ string) error { return inspector.ErrModelShape }
	if _, err := r.Rollback(refuse); !errors.Is(err, inspector.ErrModelShape) {
		t.Fatalf("refused rollback: %v", err)
	}
	if got := activeKey(t, r); got != "parts/v3" {
		t.Fatalf("active %s after a refused rollback", got)
	}
	c, err := r.Rollback(nil)
	if err != nil || c.Version != "v2" || activeKey(t, r) != "parts/v2" {
		t.Fatalf("rollback = %v, %v; active %s; want v2", c, err, activeKey(t, r))
	}
	if c, err := r.Rollback(nil); err != nil || c.Version != "v1" {
		t.Fatalf("second rollback = %v, %v", c, err)
	}
	if _, err := r.Rollback(nil); !errors.Is(err, ErrNoHistory) {
		t.Fatalf("rollback past the first: %v, want ErrNoHistory", err)
	}
	ac, err := r.ActiveCard()
	if err != nil || ac.Version != "v1" {
		t.Fatalf("ActiveCard = %v, %v", ac, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(r.Root, ".active-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}
