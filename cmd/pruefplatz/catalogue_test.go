package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/internal/browsertest"
)

// smallDemoCatalogue draws a few demo catalogue parts (a left/right pair,
// a bolt in two lengths, three others) and one part not in it, once per
// test binary (drawing is most of a catalogue test's CPU under the race
// detector); callers only read it.
func smallDemoCatalogue(t *testing.T) string {
	return demoCatalogueOf(t, "BRL-7050", "BRR-7050", "HB-M8-40", "HB-M8-60", "WA-10-Z", "BB-6201", "SP-50-6", "X-GEAR-24")
}

// demoCatalogueOf draws the demo catalogue's parts of these numbers (seed
// 1, 5 reference and 4 customer photos each), once per test binary and
// set of numbers.
func demoCatalogueOf(t *testing.T, numbers ...string) string {
	t.Helper()
	demoCatMu.Lock()
	defer demoCatMu.Unlock()
	key := strings.Join(numbers, ",")
	if dir, ok := demoCatDirs[key]; ok {
		return dir
	}
	want := map[string]bool{}
	for _, n := range numbers {
		want[n] = true
	}
	var parts []demo.CataloguePart
	for _, p := range demo.CatalogueParts() {
		if want[p.Number] {
			parts = append(parts, p)
		}
	}
	out, err := os.MkdirTemp(feedRoot, "catalogue-")
	if err == nil {
		err = demo.GenerateCatalogue(context.Background(), demo.CatalogueOptions{Seed: 1, Out: out, Parts: parts, Ref: 5, Customer: 4, Workers: 2})
	}
	if err != nil {
		t.Fatal(err)
	}
	demoCatDirs[key] = demo.CatalogueDir(out)
	return demoCatDirs[key]
}

var (
	demoCatMu   sync.Mutex
	demoCatDirs = map[string]string{}
)

// catalogueSubset copies n reference and m customer photos of parts (and
// photo 0 of each unknown part) from a demo catalogue into a new folder of
// the same layout.
func catalogueSubset(t *testing.T, dir string, parts, unknown []string, n, m int) string {
	t.Helper()
	out := t.TempDir()
	cp := func(kind, part string, k int) {
		for i := range k {
			name := fmt.Sprintf("%02d.jpg", i)
			b, err := os.ReadFile(filepath.Join(dir, kind, part, name))
			if err == nil {
				err = os.MkdirAll(filepath.Join(out, kind, part), 0o755)
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(out, kind, part, name), b, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range parts {
		cp("reference", p, n)
		cp("customer", p, m)
	}
	for _, p := range unknown {
		cp("unknown", p, 1)
	}
	return out
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	repo, _ := filepath.Abs("../..")
	root := newRootCmd()
	var out bytes.Buffer
	root.SetArgs(append(args, "--models", filepath.Join(repo, "models"), "--ort-lib", filepath.Join(repo, ".deps", "onnxruntime", ortLibName)))
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestSalesCatalogueInBrowser is the end-to-end check with the real
// backbone: import a small demo catalogue with the CLI, serve it, upload a
// customer photo on /sales, confirm the part, accept the photo as an
// engineer, add a new part with 3 photos and find it at once.
func TestSalesCatalogueInBrowser(t *testing.T) {
	t.Parallel() // a whole station each: they mostly wait on frames, browsers and brokers
	ctx := browsertest.New(t, 120*time.Second)
	dir := smallDemoCatalogue(t)
	file := filepath.Join(t.TempDir(), "catalogue.db")
	out, err := runCLI(t, "catalogue", "import", filepath.Join(dir, "reference"), "--parts", filepath.Join(dir, "parts.csv"), "--catalogue", file)
	if err != nil || !strings.Contains(out, "imported 7 parts with 35 photos") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err = runCLI(t, "catalogue", "show", "BRL-7050", "--catalogue", file)
	if err != nil || !strings.Contains(out, `"mirror_of": "BRR-7050"`) {
		t.Fatalf("show: %v\n%s", err, out)
	}
	frames := filepath.Join(t.TempDir(), "frames")
	writeFrames(t, frames, 3)
	s := startServe(t, "--source", frames, "--catalogue", file, "--kiosk-role", "operator,sales,engineer")
	base := "http://" + s.addr

	query := filepath.Join(dir, "customer", "BRL-7050", "01.jpg")
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(base+"/sales"),
		waitJS(`document.getElementById("catinfo").textContent.includes("7 parts")`, 20*time.Second),
		chromedp.SetUploadFiles("#file", []string{query}),
		chromedp.WaitVisible(`#results li:nth-child(5) .pn`),
	); err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("error").textContent`))
		t.Fatalf("search on /sales: %v (%s)\n%s", err, msg, s.out.String())
	}
	results, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#results .pn")].map(e => e.textContent)`))
	if len(results) != 5 || !contains(results[:2], "BRL-7050") {
		t.Errorf("results %v: BRL-7050 not among the first two", results)
	}
	mirror, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("mirror").hidden`))
	if pair := len(results) >= 2 && contains(results[:2], "BRR-7050"); pair != mirror {
		t.Errorf("results %v: mirror warning shown %v", results, mirror)
	}
	verdict, _ := chromedp.Run(ctx, chromedp.Text("#verdict"))
	t.Logf("answer: %s; results %v", verdict, results)
	writeScreenshot(t, ctx, "sales-catalogue.png")
	// Confirm the right part (whatever rank it has), then accept it as an engineer.
	if err := chromedp.Do(ctx,
		chromedp.Click(`#results button[data-part="BRL-7050"]`),
		waitJS(`document.getElementById("recorded").textContent.includes("BRL-7050")`, 5*time.Second),
		chromedp.WaitVisible(`#matchlist button.accept`),
		chromedp.Click(`#matchlist button.accept`),
		waitJS(`document.getElementById("matchlist").textContent.includes("reference photo since")`, 5*time.Second),
	); err != nil {
		t.Fatalf("confirm and accept: %v\n%s", err, s.out.String())
	}
	var part struct{ Photos []struct{ Origin string } }
	json.Unmarshal(s.get(t, "/api/catalogue/parts/BRL-7050"), &part)
	if len(part.Photos) != 6 {
		t.Errorf("BRL-7050 has %d reference photos after the accept, want 6", len(part.Photos))
	}

	// A new part with 3 photos, searchable at once.
	var newPhotos []string
	for _, n := range []string{"00.jpg", "01.jpg", "02.jpg"} {
		newPhotos = append(newPhotos, filepath.Join(dir, "unknown", "X-GEAR-24", n))
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(`#addpart summary`),
		chromedp.SendKeys(`#addform input[name="number"]`, "GEAR-24"),
		chromedp.SendKeys(`#addform input[name="name"]`, "Spur gear, 24 teeth"),
		chromedp.SetUploadFiles(`#addform input[name="photo"]`, newPhotos),
		chromedp.Click(`#addform button[type="submit"]`),
		waitJS(`document.getElementById("addmsg").textContent.includes("Added GEAR-24")`, 20*time.Second),
		chromedp.SetUploadFiles("#file", []string{filepath.Join(dir, "unknown", "X-GEAR-24", "03.jpg")}),
		waitJS(`(document.querySelector("#results li:first-child .pn") || {}).textContent === "GEAR-24"`, 10*time.Second),
	); err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("addmsg").textContent + " | " + document.getElementById("results").textContent`))
		t.Fatalf("add part and find it: %v (%s)\n%s", err, msg, s.out.String())
	}

	// A customer photo of the shorter bolt, which the search scores close
	// to the longer one (whichever comes first): the page names the other
	// as a look-alike, so the person checks before confirming.
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles("#file", []string{filepath.Join(dir, "customer", "HB-M8-40", "00.jpg")}),
		waitJS(`[...document.querySelectorAll("#results .pn")].some(e => e.textContent.startsWith("HB-"))`, 10*time.Second),
	); err != nil {
		t.Fatalf("search a bolt: %v\n%s", err, s.out.String())
	}
	var last []struct {
		Answer struct {
			Results    []struct{ Part string }
			LookAlikes []struct{ Part string } `json:"look_alikes"`
		}
	}
	if err := json.Unmarshal(s.get(t, "/api/catalogue/matches?limit=1"), &last); err != nil || len(last) != 1 {
		t.Fatalf("last match: %v %+v", err, last)
	}
	a := last[0].Answer
	box, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("lookalike").hidden ? "" : document.getElementById("lookalike").textContent`))
	t.Logf("bolt: first %s; look-alike box %q", a.Results[0].Part, box)
	if len(a.LookAlikes) == 0 || box == "" {
		t.Fatalf("a shorter bolt's photo: look-alikes %+v, box %q; want the other bolt named", a.LookAlikes, box)
	}
	for _, la := range a.LookAlikes {
		if !strings.Contains(box, la.Part) || !strings.Contains(box, a.Results[0].Part) {
			t.Errorf("look-alike box %q does not name %s and %s", box, a.Results[0].Part, la.Part)
		}
	}
	if !strings.Contains(box, "HB-M8-40") || !strings.Contains(box, "HB-M8-60") {
		t.Errorf("look-alike box %q: want both bolts named", box)
	}
	writeScreenshot(t, ctx, "sales-lookalike.png")
}

// TestSalesTwinBelowThresholdInBrowser: a black M16 nut's customer photo
// that scores its zinc twin above the threshold and itself below (on a
// small catalogue of nuts in two sizes and finishes among other parts)
// is answered with the black nut first, and the page says why its score
// is below the threshold.
func TestSalesTwinBelowThresholdInBrowser(t *testing.T) {
	t.Parallel()
	ctx := browsertest.New(t, 120*time.Second)
	dir := demoCatalogueOf(t, "HN-M10-Z", "HN-M10-B", "HN-M16-Z", "HN-M16-B", "BR-60-2H", "SP-50-6", "WA-10-Z", "BB-6201")
	file := filepath.Join(t.TempDir(), "catalogue.db")
	if out, err := runCLI(t, "catalogue", "import", filepath.Join(dir, "reference"), "--parts", filepath.Join(dir, "parts.csv"), "--catalogue", file); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	frames := filepath.Join(t.TempDir(), "frames")
	writeFrames(t, frames, 3)
	s := startServe(t, "--source", frames, "--catalogue", file, "--kiosk-role", "operator,sales")
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate("http://"+s.addr+"/sales"),
		waitJS(`document.getElementById("catinfo").textContent.includes("8 parts")`, 20*time.Second),
		chromedp.SetUploadFiles("#file", []string{filepath.Join(dir, "customer", "HN-M16-B", "03.jpg")}),
		chromedp.WaitVisible(`#results li:nth-child(5) .pn`),
	); err != nil {
		t.Fatalf("search on /sales: %v\n%s", err, s.out.String())
	}
	verdict, _ := chromedp.Run(ctx, chromedp.Text("#verdict"))
	first, _ := chromedp.Run(ctx, chromedp.Text("#results li:first-child .pn"))
	var last []struct {
		Answer struct {
			Score     float32
			Threshold float32
			Results   []struct {
				Part  string
				Score float32
			}
		}
	}
	if err := json.Unmarshal(s.get(t, "/api/catalogue/matches?limit=1"), &last); err != nil || len(last) != 1 || len(last[0].Answer.Results) == 0 {
		t.Fatalf("last match: %v %+v", err, last)
	}
	a := last[0].Answer
	t.Logf("verdict %q; answer score %.3f, first %s %.3f, threshold %.3f", verdict, a.Score, a.Results[0].Part, a.Results[0].Score, a.Threshold)
	if first != "HN-M16-B" || a.Results[0].Part != "HN-M16-B" {
		t.Fatalf("first part on the page %q, in the answer %s; want HN-M16-B", first, a.Results[0].Part)
	}
	if a.Results[0].Score >= a.Threshold || a.Score < a.Threshold {
		t.Fatalf("want the black nut below the threshold and the answer above it: %+v", a)
	}
	if !strings.Contains(verdict, "HN-M16-B") || !strings.Contains(verdict, "another finish") || !strings.Contains(verdict, fmt.Sprintf("%.3f", a.Score)) {
		t.Errorf("verdict %q does not say that a look-alike in another finish scored %.3f", verdict, a.Score)
	}
}

// writeScreenshot saves the page as station-ui/screenshots/name when the
// test runs with -screenshots.
func writeScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !*updateScreenshots {
		return
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		err = os.WriteFile(filepath.Join("..", "..", "station-ui", "screenshots", name), shot, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// waitJS waits until expr is truthy on the page.
func waitJS(expr string, d time.Duration) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(d))(ctx, t)
		return chromedp.Void{}, err
	}
}

// TestCatalogueCLI runs eval, search, add, list and remove on a small demo
// catalogue with the real backbone.
func TestCatalogueCLI(t *testing.T) {
	t.Parallel() // a whole station each: they mostly wait on frames, browsers and brokers
	dir := smallDemoCatalogue(t)
	// eval embeds every photo it reads: a subset keeps the command's whole
	// path at a fifth of the work.
	sub := catalogueSubset(t, dir, []string{"BRL-7050", "BRR-7050", "WA-10-Z"}, []string{"X-GEAR-24"}, 2, 1)
	out, err := runCLI(t, "catalogue", "eval", "--ref", filepath.Join(sub, "reference"), "--query", filepath.Join(sub, "customer"), "--unknown", filepath.Join(sub, "unknown"))
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	for _, want := range []string{"reference: 3 parts, 6 photos; queries: 3 of known parts, 1 of parts not in the reference set",
		"| top-1 accuracy (known parts) |", "| top-5 accuracy (known parts) |", `| "not in the catalogue" (unknown parts) |`} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}
	file := filepath.Join(t.TempDir(), "c.db")
	ref := func(part, n string) string { return filepath.Join(dir, "reference", part, n) }
	out, err = runCLI(t, "catalogue", "add", "HB-1", "--name", "Bolt", "--attr", "material=steel", ref("HB-M8-40", "00.jpg"), ref("HB-M8-40", "01.jpg"), "--catalogue", file)
	if err != nil || !strings.Contains(out, "added HB-1 (Bolt) with 2 photos") {
		t.Fatalf("add: %v\n%s", err, out)
	}
	out, err = runCLI(t, "catalogue", "add", "HB-2", "--name", "Same photo", ref("HB-M8-40", "00.jpg"), "--catalogue", file)
	if err == nil || !strings.Contains(err.Error(), "already in the catalogue") {
		t.Errorf("adding a stored photo again: %v\n%s", err, out)
	}
	out, err = runCLI(t, "catalogue", "add", "WA-1", "--name", "Washer", ref("WA-10-Z", "00.jpg"), ref("WA-10-Z", "01.jpg"), "--catalogue", file)
	if err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	out, err = runCLI(t, "catalogue", "search", filepath.Join(dir, "reference", "WA-10-Z", "02.jpg"), "--catalogue", file)
	if err != nil || !strings.Contains(out, "1     WA-1") {
		t.Errorf("search: %v\n%s", err, out)
	}
	if out, err = runCLI(t, "catalogue", "remove", "WA-1", "--catalogue", file); err != nil {
		t.Fatalf("remove: %v\n%s", err, out)
	}
	out, err = runCLI(t, "catalogue", "list", "--catalogue", file)
	if err != nil || strings.Contains(out, "WA-1") || !strings.Contains(out, "HB-1") {
		t.Errorf("list after remove: %v\n%s", err, out)
	}
}
