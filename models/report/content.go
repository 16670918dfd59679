// Package report writes the technical documentation of one model version
// (EU AI Act, Annex IV in spirit): intended use and limits, risk category,
// training data, architecture and provenance, test figures, data-quality
// and bias checks, the running model's record, and the sha256 of every
// file described. Build makes one content model; HTML and PDF render it,
// so both formats always say the same. The package is pure Go (the PDF is
// drawn with codeberg.org/go-pdf/fpdf, not a browser).
package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/quality"
)

// Report is the content of a report, independent of its format.
type Report struct {
	Lang     string    `json:"lang"`
	Title    string    `json:"title"`
	Subtitle string    `json:"subtitle"`
	Created  time.Time `json:"created"`
	Sections []Section `json:"sections"`
	// Files are the files the report describes, with their sha256.
	Files []File `json:"files"`
	// SHA256 is the sha256 of the content above (its JSON with SHA256
	// empty): the same model, record and time give the same sum in either
	// format.
	SHA256 string `json:"-"`
}

// Section is one numbered chapter of the report.
type Section struct {
	Title  string  `json:"title"`
	Blocks []Block `json:"blocks"`
}

// Block is one element of a section: exactly one of its fields is set.
type Block struct {
	// Heading is a sub-heading.
	Heading string `json:"heading,omitempty"`
	// Text is a paragraph; Warn marks it as a warning.
	Text string `json:"text,omitempty"`
	Warn bool   `json:"warn,omitempty"`
	// Pairs is a two-column list of names and values.
	Pairs [][2]string `json:"pairs,omitempty"`
	Table *Table      `json:"table,omitempty"`
	Image *Image      `json:"image,omitempty"`
}

// Table is a table with a header row. Widths are relative column widths
// (nil: equal).
type Table struct {
	Head   []string   `json:"head"`
	Rows   [][]string `json:"rows"`
	Widths []float64  `json:"widths,omitempty"`
	// Mono sets the table in a fixed-width font (hashes).
	Mono bool `json:"mono,omitempty"`
}

// Image is a PNG with a caption.
type Image struct {
	Caption string `json:"caption"`
	PNG     []byte `json:"png"`
	// Width is the share of the text width it takes (0 < Width ≤ 1).
	Width float64 `json:"width"`
}

// File is one file the report describes.
type File struct {
	Role   string `json:"role"`
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Live is what a running station knows about the model version: the caller
// (the station, or the CLI from the store and audit log) fills what it has.
// A nil Live means the report was made without a station's record.
type Live struct {
	// Active says the registry names this version as the active model.
	Active bool
	// Activations lists when the version was activated, by whom, and what
	// it replaced, oldest first; nil when no audit log was read.
	Activations []Activation
	// Reviews counts the verdicts of this version and their human reviews;
	// nil when no verdict store was read.
	Reviews *ReviewStats
	// Monitoring holds the live monitoring figures (drift score, uncertain
	// and override rate over the rolling window, class mix) with their
	// thresholds. The monitoring component supplies them; nil prints
	// "not supplied".
	Monitoring []MonitoringFigure
}

// Activation is one activation (or rollback) of a model version.
type Activation struct {
	At       time.Time
	By       string
	Action   string // "model.activate" or "model.rollback"
	Replaced string // NAME/VERSION it replaced; "" when unknown
	OK       bool
	Detail   string
}

// ReviewStats counts a model version's verdicts and their reviews.
type ReviewStats struct {
	From, To   time.Time
	Verdicts   int
	Reviewed   int
	Confirmed  int
	Overridden int
	// ByOutcome counts verdicts by the machine's outcome (ok, nok, uncertain).
	ByOutcome map[string]int
}

// OverrideRate is the share of reviewed verdicts where the human chose
// another answer than the machine; 0 with no review.
func (r *ReviewStats) OverrideRate() float64 {
	if r == nil || r.Reviewed == 0 {
		return 0
	}
	return float64(r.Overridden) / float64(r.Reviewed)
}

// MonitoringFigure is one live monitor with its threshold.
type MonitoringFigure struct {
	Name      string
	Value     string
	Threshold string
	Alarm     bool
}

// Input is what Build reads.
type Input struct {
	Card *models.Card
	// Dir is the version's folder (model.onnx, card.json, manifest.json, plots).
	Dir string
	// Lang is "en" or "de".
	Lang string
	// ContactSheet is a PNG of sample training images; nil leaves it out
	// with a note.
	ContactSheet []byte
	// ContactSheetSource says where it came from (a file or a folder).
	ContactSheetSource string
	Live               *Live
	Now                time.Time
}

// Errors returned by Build.
var (
	// ErrLang is returned for a language without a catalogue.
	ErrLang = errors.New("report: unknown language")
)

// Build assembles the report of in.Card. It hashes the version's files
// from in.Dir and returns models.ErrTampered when one no longer matches the
// card (a report must not vouch for other files than the card's), ErrLang,
// or an error reading the manifest.
func Build(in Input) (*Report, error) {
	t, ok := catalogues[in.Lang]
	if !ok {
		return nil, fmt.Errorf("%w %q (have en, de)", ErrLang, in.Lang)
	}
	c := in.Card
	b := &builder{t: t, lang: in.Lang}
	files, err := b.files(in)
	if err != nil {
		return nil, err
	}
	var images []quality.Image
	if p := filepath.Join(in.Dir, "manifest.json"); fileExists(p) {
		if images, err = quality.ReadManifest(p); err != nil {
			return nil, err
		}
	}
	r := &Report{
		Lang: in.Lang, Title: fmt.Sprintf("%s %s/%s", t["title"], c.Name, c.Version),
		Subtitle: t["subtitle"], Created: in.Now.UTC(), Files: files,
	}
	r.Sections = []Section{
		b.identity(c, in),
		b.purpose(c),
		b.data(c, images, in),
		b.architecture(c),
		b.metrics(c),
		b.quality(c),
		b.live(in.Live),
		b.integrity(files),
	}
	sum, err := r.contentSHA256()
	if err != nil {
		return nil, err
	}
	r.SHA256 = sum
	return r, nil
}

func (r *Report) contentSHA256() (string, error) {
	c := *r
	c.SHA256 = ""
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

type builder struct {
	t    map[string]string
	lang string
}

func (b *builder) tr(key string, args ...any) string {
	s, ok := b.t[key]
	if !ok {
		s = catalogues["en"][key]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

func (b *builder) pct(v float64) string {
	s := fmt.Sprintf("%.1f %%", 100*v)
	if b.lang == "de" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

func (b *builder) num(v float64, prec int) string {
	s := fmt.Sprintf("%.*f", prec, v)
	if b.lang == "de" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

func (b *builder) date(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// files hashes the files the report describes: the model, every other file
// the card lists, the card itself and the manifest.
func (b *builder) files(in Input) ([]File, error) {
	c := in.Card
	var out []File
	add := func(role, name string, want string) error {
		sum, err := models.FileSHA256(filepath.Join(in.Dir, name))
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if want != "" && sum != want {
			return fmt.Errorf("%w: %s has sha256 %s, the card says %s", models.ErrTampered, name, sum[:12], want[:min(12, len(want))])
		}
		out = append(out, File{Role: b.tr(role), Name: name, SHA256: sum})
		return nil
	}
	if err := add("file.model", models.ModelFile, c.ONNXSHA256); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(c.FileSHA256))
	for n := range c.FileSHA256 {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := add("file.bank", n, c.FileSHA256[n]); err != nil {
			return nil, err
		}
	}
	if err := add("file.card", models.CardFile, ""); err != nil {
		return nil, err
	}
	if fileExists(filepath.Join(in.Dir, "manifest.json")) {
		if err := add("file.manifest", "manifest.json", ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (b *builder) identity(c *models.Card, in Input) Section {
	kind := b.tr("kind.classifier")
	if c.Kind == models.KindAnomaly {
		kind = b.tr("kind.anomaly")
	}
	pairs := [][2]string{
		{b.tr("id.model"), c.Name + "/" + c.Version},
		{b.tr("id.kind"), kind},
		{b.tr("id.labels"), strings.Join(c.Labels, ", ")},
		{b.tr("id.ok"), strings.Join(c.OKLabels, ", ")},
		{b.tr("id.created"), b.date(c.Created)},
		{b.tr("id.tool"), c.Tool},
		{b.tr("id.ref"), c.ContentSHA256()},
		{b.tr("id.generated"), b.date(in.Now)},
	}
	s := Section{Title: b.tr("sec.identity"), Blocks: []Block{{Pairs: pairs}}}
	for _, w := range c.Warnings {
		s.Blocks = append(s.Blocks, Block{Text: w, Warn: true})
	}
	return s
}

func (b *builder) purpose(c *models.Card) Section {
	or := func(s string) string {
		if s == "" {
			return b.tr("missing")
		}
		return s
	}
	s := Section{Title: b.tr("sec.purpose"), Blocks: []Block{
		{Heading: b.tr("purpose.use")}, {Text: or(c.IntendedUse), Warn: c.IntendedUse == ""},
		{Heading: b.tr("purpose.limits")}, {Text: or(c.Limitations), Warn: c.Limitations == ""},
		{Heading: b.tr("purpose.risk")},
	}}
	if c.RiskCategory == "" {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("missing"), Warn: true})
	} else {
		s.Blocks = append(s.Blocks, Block{Pairs: [][2]string{
			{b.tr("purpose.category"), b.tr("risk." + c.RiskCategory)},
			{b.tr("purpose.reason"), c.RiskReason},
		}})
	}
	if len(c.DocHistory) > 0 {
		t := &Table{Head: []string{b.tr("hist.at"), b.tr("hist.by"), b.tr("hist.what")}, Widths: []float64{1.2, 0.8, 4}}
		for _, r := range c.DocHistory {
			by := r.By
			if by == "" {
				by = "–"
			}
			t.Rows = append(t.Rows, []string{b.date(r.At), by, fmt.Sprintf("%s: %s · %s: %s · %s: %s",
				b.tr("purpose.use"), short(r.IntendedUse, 80), b.tr("purpose.limits"), short(r.Limitations, 80),
				b.tr("purpose.category"), r.RiskCategory)})
		}
		s.Blocks = append(s.Blocks, Block{Heading: b.tr("purpose.history")}, Block{Table: t})
	}
	return s
}

func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func (b *builder) data(c *models.Card, images []quality.Image, in Input) Section {
	s := Section{Title: b.tr("sec.data")}
	d := c.Dataset
	if d == nil {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("data.none"), Warn: true})
		return s
	}
	s.Blocks = append(s.Blocks, Block{Pairs: [][2]string{
		{b.tr("data.path"), d.Path},
		{b.tr("data.manifest"), d.ManifestHash},
	}})
	classes := make([]string, 0, len(d.ClassCounts))
	for cl := range d.ClassCounts {
		classes = append(classes, cl)
	}
	sort.Strings(classes)
	t := &Table{Head: []string{b.tr("data.class"), "train", "val", "test", b.tr("data.total")}, Widths: []float64{2, 1, 1, 1, 1}}
	var tot [4]int
	for _, cl := range classes {
		row := []string{cl}
		for i, sp := range []string{"train", "val", "test"} {
			n := d.SplitCounts[sp][cl]
			tot[i] += n
			row = append(row, fmt.Sprint(n))
		}
		tot[3] += d.ClassCounts[cl]
		t.Rows = append(t.Rows, append(row, fmt.Sprint(d.ClassCounts[cl])))
	}
	t.Rows = append(t.Rows, []string{b.tr("data.total"), fmt.Sprint(tot[0]), fmt.Sprint(tot[1]), fmt.Sprint(tot[2]), fmt.Sprint(tot[3])})
	s.Blocks = append(s.Blocks, Block{Heading: b.tr("data.counts")}, Block{Table: t})
	for _, p := range d.Problems {
		s.Blocks = append(s.Blocks, Block{Text: p, Warn: true})
	}

	// Where the images came from: their folders, and capture sessions
	// when the manifest records them.
	s.Blocks = append(s.Blocks, Block{Heading: b.tr("data.origin")})
	if len(images) == 0 {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("data.nomanifest")})
	} else {
		folders := map[string]int{}
		sessions := map[string]int{}
		for _, im := range images {
			dir := filepath.ToSlash(filepath.Dir(filepath.FromSlash(im.Path)))
			folders[dir]++
			if v := im.Conditions["session"]; v != "" {
				sessions[v]++
			}
		}
		ft := &Table{Head: []string{b.tr("data.folder"), b.tr("data.images")}, Widths: []float64{4, 1}}
		for _, k := range sortedKeys(folders) {
			ft.Rows = append(ft.Rows, []string{d.Path + "/" + k, fmt.Sprint(folders[k])})
		}
		s.Blocks = append(s.Blocks, Block{Table: ft})
		if len(sessions) == 0 {
			s.Blocks = append(s.Blocks, Block{Text: b.tr("data.nosessions")})
		} else {
			st := &Table{Head: []string{b.tr("data.session"), b.tr("data.images")}, Widths: []float64{4, 1}}
			for _, k := range sortedKeys(sessions) {
				st.Rows = append(st.Rows, []string{k, fmt.Sprint(sessions[k])})
			}
			s.Blocks = append(s.Blocks, Block{Table: st})
		}
	}
	s.Blocks = append(s.Blocks, Block{Heading: b.tr("data.sheet")})
	if in.ContactSheet != nil {
		s.Blocks = append(s.Blocks, Block{Image: &Image{Caption: b.tr("data.sheetcap", in.ContactSheetSource), PNG: in.ContactSheet, Width: 0.8}})
	} else {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("data.nosheet"), Warn: true})
	}

	s.Blocks = append(s.Blocks, Block{Heading: b.tr("data.aug")})
	tr := c.Training
	if tr == nil {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("data.notraining")})
		return s
	}
	s.Blocks = append(s.Blocks, Block{Pairs: [][2]string{
		{b.tr("data.seed"), fmt.Sprint(tr.Seed)},
		{b.tr("data.sampling"), tr.Sampling},
	}})
	if steps := augSteps(tr.Augmentation); len(steps) > 0 {
		at := &Table{Head: []string{"#", b.tr("aug.step"), "p", b.tr("aug.params")}, Widths: []float64{0.3, 1.5, 0.5, 4}}
		for i, st := range steps {
			at.Rows = append(at.Rows, []string{fmt.Sprint(i + 1), st.typ, st.p, st.params})
		}
		s.Blocks = append(s.Blocks, Block{Table: at})
	} else if len(tr.Augmentation) > 0 {
		s.Blocks = append(s.Blocks, Block{Text: string(tr.Augmentation)})
	}
	return s
}

type augStep struct{ typ, p, params string }

// augSteps reads the augmentation pipeline recorded on the card
// ({"steps":[{"type":…,"p":…,…}]}) without importing augment: the card is
// the record, whatever the current code would make of it.
func augSteps(raw json.RawMessage) []augStep {
	var pl struct {
		Steps []map[string]json.RawMessage `json:"steps"`
	}
	if json.Unmarshal(raw, &pl) != nil {
		return nil
	}
	var out []augStep
	for _, m := range pl.Steps {
		st := augStep{typ: strings.Trim(string(m["type"]), `"`), p: string(m["p"])}
		var keys []string
		for k := range m {
			if k != "type" && k != "p" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			var buf bytes.Buffer
			if json.Compact(&buf, m[k]) == nil {
				parts = append(parts, k+" "+strings.ReplaceAll(buf.String(), ",", ", "))
			}
		}
		st.params = strings.Join(parts, "; ")
		out = append(out, st)
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func (b *builder) architecture(c *models.Card) Section {
	in := c.Input
	spec := fmt.Sprintf("%d×%d×%d, %s, mean %v, std %v", in.Width, in.Height, in.Channels, in.Resize, in.Mean, in.Std)
	if in.ROI != nil {
		spec += fmt.Sprintf(", ROI x=%d y=%d w=%d h=%d", in.ROI.X, in.ROI.Y, in.ROI.W, in.ROI.H)
	}
	s := Section{Title: b.tr("sec.arch"), Blocks: []Block{{Pairs: [][2]string{
		{b.tr("arch.net"), c.Architecture},
		{b.tr("arch.input"), spec},
		{b.tr("arch.output"), fmt.Sprintf("%s → %s (%s)", c.ONNXInput, c.ONNXOutput, c.Outputs)},
	}}}}
	s.Blocks = append(s.Blocks, Block{Heading: b.tr("arch.backbone")})
	if bb := c.Backbone; bb != nil {
		frozen := b.tr("no")
		if bb.Frozen {
			frozen = b.tr("yes")
		}
		s.Blocks = append(s.Blocks, Block{Pairs: [][2]string{
			{b.tr("arch.bbname"), bb.Name}, {b.tr("arch.licence"), bb.License}, {b.tr("arch.source"), bb.Source},
			{"sha256", bb.SHA256}, {b.tr("arch.frozen"), frozen},
		}})
	} else {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("arch.scratch")})
	}
	if tr := c.Training; tr != nil {
		s.Blocks = append(s.Blocks, Block{Heading: b.tr("arch.training")}, Block{Pairs: [][2]string{
			{b.tr("arch.backend"), tr.Backend},
			{b.tr("arch.epochs"), b.tr("arch.epochsv", tr.EpochsRun, tr.Epochs, tr.BestEpoch)},
			{b.tr("arch.batch"), fmt.Sprint(tr.Batch)},
			{b.tr("arch.lr"), fmt.Sprintf("%g; %s", tr.LearningRate, tr.Schedule)},
			{b.tr("arch.stop"), tr.EarlyStopping},
			{b.tr("arch.time"), b.tr("arch.timev", b.num(tr.Seconds, 0))},
		}})
	}
	if c.Imported {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("arch.imported"), Warn: true})
	}
	return s
}

func (b *builder) metrics(c *models.Card) Section {
	s := Section{Title: b.tr("sec.metrics")}
	if a := c.Anomaly; a != nil && a.Eval != nil {
		e := a.Eval
		s.Blocks = append(s.Blocks, Block{Pairs: [][2]string{
			{"AUROC", b.num(e.AUROC, 3)},
			{b.tr("an.recall"), b.pct(e.Recall)},
			{b.tr("an.false"), b.pct(e.FalseAlarms)},
			{b.tr("an.images"), b.tr("an.imagesv", e.Good, e.Defects)},
			{b.tr("an.scores"), fmt.Sprintf("OK ≤ %.4g, NOK ≥ %.4g", a.ScoreOK, a.ScoreNOK)},
		}})
	}
	m := c.Metrics["test"]
	if m == nil {
		if c.Anomaly == nil {
			s.Blocks = append(s.Blocks, Block{Text: b.tr("met.none"), Warn: true})
		}
	} else {
		s.Blocks = append(s.Blocks, Block{Pairs: [][2]string{
			{b.tr("met.n"), fmt.Sprint(m.N)},
			{b.tr("met.acc"), b.pct(m.Accuracy)},
			{b.tr("met.uncertain"), b.pct(m.Uncertain)},
			{b.tr("met.accepted"), b.pct(m.AcceptedAccuracy)},
		}})
		head := []string{b.tr("met.truepred")}
		widths := []float64{2}
		for _, l := range m.Labels {
			head = append(head, l)
			widths = append(widths, 1)
		}
		ct := &Table{Head: head, Widths: widths}
		for i, l := range m.Labels {
			row := []string{l}
			for j := range m.Labels {
				row = append(row, fmt.Sprint(m.Confusion[i][j]))
			}
			ct.Rows = append(ct.Rows, row)
		}
		s.Blocks = append(s.Blocks, Block{Heading: b.tr("met.confusion")}, Block{Table: ct})
		pt := &Table{Head: []string{b.tr("data.class"), b.tr("met.precision"), b.tr("met.recall"), "F1", b.tr("met.support")}, Widths: []float64{2, 1, 1, 1, 1}}
		for _, l := range m.Labels {
			pc := m.PerClass[l]
			pt.Rows = append(pt.Rows, []string{l, b.pct(pc.Precision), b.pct(pc.Recall), b.num(pc.F1, 3), fmt.Sprint(pc.Support)})
		}
		s.Blocks = append(s.Blocks, Block{Heading: b.tr("met.perclass")}, Block{Table: pt})
	}
	s.Blocks = append(s.Blocks, Block{Heading: b.tr("met.thresholds")}, Block{Pairs: [][2]string{
		{b.tr("met.accept"), b.num(float64(c.Thresholds.Accept), 4)},
		{b.tr("met.reject"), b.num(float64(c.Thresholds.Reject), 4)},
	}}, Block{Text: c.ThresholdWhy})
	s.Blocks = append(s.Blocks, Block{Heading: b.tr("met.verification")})
	if v := c.Verification; v != nil {
		s.Blocks = append(s.Blocks, Block{Pairs: [][2]string{
			{b.tr("ver.runtime"), v.Runtime},
			{b.tr("ver.refs"), fmt.Sprint(len(v.References))},
			{b.tr("ver.diff"), fmt.Sprintf("%.3g (%s %.0e)", v.MaxAbsDiff, b.tr("ver.tol"), v.Tolerance)},
		}})
	} else {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("ver.none"), Warn: true})
	}
	return s
}

func (b *builder) quality(c *models.Card) Section {
	s := Section{Title: b.tr("sec.quality")}
	q := c.Quality
	if q == nil {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("q.none", c.Name, c.Version), Warn: true})
		return s
	}
	s.Blocks = append(s.Blocks, Block{Pairs: [][2]string{
		{b.tr("q.computed"), b.date(q.Computed) + " · " + q.Tool},
		{b.tr("q.data"), q.Data},
	}})
	if len(q.Warnings) == 0 {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("q.nowarn")})
	}
	for _, w := range q.Warnings {
		s.Blocks = append(s.Blocks, Block{Text: w, Warn: true})
	}
	if im := q.Imbalance; im != nil {
		text := b.tr("q.imbalancev", im.Largest, im.Counts[im.Largest], im.Smallest, im.Counts[im.Smallest], b.num(im.Ratio, 2), b.num(im.MaxRatio, 1))
		if im.Counts[im.Largest] == im.Counts[im.Smallest] {
			text = b.tr("q.balanced", len(im.Counts), im.Counts[im.Largest])
		}
		s.Blocks = append(s.Blocks, Block{Heading: b.tr("q.imbalance")}, Block{Text: text})
	}
	if nd := q.NearDuplicates; nd != nil {
		s.Blocks = append(s.Blocks, Block{Heading: b.tr("q.dups")}, Block{Text: b.tr("q.dupsv",
			nd.Method, nd.Test, nd.Train, nd.TestWithDuplicate, nd.MaxDistance, nd.NearestMedian)})
		if len(nd.Pairs) > 0 {
			t := &Table{Head: []string{b.tr("q.test"), b.tr("q.train"), b.tr("q.distance"), b.tr("q.sameclass")}, Widths: []float64{2, 2, 1, 1}}
			for _, p := range nd.Pairs {
				same := b.tr("no")
				if p.SameClass {
					same = b.tr("yes")
				}
				t.Rows = append(t.Rows, []string{p.Test, p.Train, fmt.Sprint(p.Distance), same})
			}
			s.Blocks = append(s.Blocks, Block{Table: t})
		}
	}
	s.Blocks = append(s.Blocks, Block{Heading: b.tr("q.subgroups")})
	if len(q.Subgroups) == 0 {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("q.noconditions", b.pct(q.Accuracy), q.Images)})
	} else {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("q.subgroupsv", b.pct(q.Accuracy), q.Images, b.pct(q.SubgroupGap), q.SubgroupMin)})
		t := &Table{Head: []string{b.tr("q.condition"), b.tr("q.value"), b.tr("data.images"), b.tr("met.acc"), ""}, Widths: []float64{1.5, 2, 1, 1, 1}}
		for _, sg := range q.Subgroups {
			flag := ""
			if sg.Low {
				flag = b.tr("q.low")
			}
			t.Rows = append(t.Rows, []string{sg.Condition, sg.Value, fmt.Sprint(sg.N), b.pct(sg.Accuracy), flag})
		}
		s.Blocks = append(s.Blocks, Block{Table: t})
	}
	s.Blocks = append(s.Blocks, Block{Heading: b.tr("q.suspects")})
	if len(q.Suspects) == 0 {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("q.nosuspects", b.num(q.SuspectConfidence, 2))})
	} else {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("q.suspectsv", b.num(q.SuspectConfidence, 2))})
		t := &Table{Head: []string{b.tr("q.image"), b.tr("q.label"), b.tr("q.predicted"), b.tr("q.confidence")}, Widths: []float64{3, 1.2, 1.2, 1}}
		for _, x := range q.Suspects {
			t.Rows = append(t.Rows, []string{x.Path, x.Label, x.Predicted, b.pct(x.Confidence)})
		}
		s.Blocks = append(s.Blocks, Block{Table: t})
	}
	return s
}

func (b *builder) live(l *Live) Section {
	s := Section{Title: b.tr("sec.live")}
	if l == nil {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("live.none")})
		return s
	}
	state := b.tr("live.inactive")
	if l.Active {
		state = b.tr("live.active")
	}
	s.Blocks = append(s.Blocks, Block{Text: state})
	s.Blocks = append(s.Blocks, Block{Heading: b.tr("live.monitoring")})
	if l.Monitoring == nil {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("live.nomonitoring")})
	} else {
		t := &Table{Head: []string{b.tr("live.monitor"), b.tr("q.value"), b.tr("live.threshold"), ""}, Widths: []float64{2, 1, 1, 1}}
		for _, f := range l.Monitoring {
			flag := ""
			if f.Alarm {
				flag = b.tr("live.alarm")
			}
			t.Rows = append(t.Rows, []string{f.Name, f.Value, f.Threshold, flag})
		}
		s.Blocks = append(s.Blocks, Block{Table: t})
	}
	s.Blocks = append(s.Blocks, Block{Heading: b.tr("live.reviews")})
	if r := l.Reviews; r == nil {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("live.nostore")})
	} else if r.Verdicts == 0 {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("live.noverdicts")})
	} else {
		pairs := [][2]string{
			{b.tr("live.period"), b.date(r.From) + " – " + b.date(r.To)},
			{b.tr("live.verdicts"), fmt.Sprint(r.Verdicts)},
		}
		for _, o := range sortedKeys(r.ByOutcome) {
			pairs = append(pairs, [2]string{"  " + o, fmt.Sprint(r.ByOutcome[o])})
		}
		pairs = append(pairs,
			[2]string{b.tr("live.reviewed"), fmt.Sprint(r.Reviewed)},
			[2]string{b.tr("live.confirmed"), fmt.Sprint(r.Confirmed)},
			[2]string{b.tr("live.overridden"), fmt.Sprint(r.Overridden)},
			[2]string{b.tr("live.override"), b.pct(r.OverrideRate())},
		)
		s.Blocks = append(s.Blocks, Block{Pairs: pairs})
	}
	s.Blocks = append(s.Blocks, Block{Heading: b.tr("live.activations")})
	if l.Activations == nil {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("live.noaudit")})
	} else if len(l.Activations) == 0 {
		s.Blocks = append(s.Blocks, Block{Text: b.tr("live.noactivations")})
	} else {
		t := &Table{Head: []string{b.tr("hist.at"), b.tr("hist.by"), b.tr("live.action"), b.tr("live.replaced")}, Widths: []float64{1.3, 1, 1.2, 2}}
		for _, a := range l.Activations {
			what := a.Action
			if !a.OK {
				what += " (" + b.tr("live.refused") + ")"
			}
			rep := a.Replaced
			if rep == "" {
				rep = "–"
			}
			t.Rows = append(t.Rows, []string{b.date(a.At), a.By, what, rep})
		}
		s.Blocks = append(s.Blocks, Block{Table: t})
	}
	return s
}

func (b *builder) integrity(files []File) Section {
	t := &Table{Head: []string{b.tr("file.role"), b.tr("file.name"), "sha256"}, Widths: []float64{1.1, 1.2, 4.2}, Mono: true}
	for _, f := range files {
		t.Rows = append(t.Rows, []string{f.Role, f.Name, f.SHA256})
	}
	return Section{Title: b.tr("sec.files"), Blocks: []Block{{Text: b.tr("files.intro")}, {Table: t}, {Text: b.tr("files.sum")}}}
}
