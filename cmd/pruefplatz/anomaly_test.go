package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/onnx/onnxtest"
	"github.com/pruefplatz/pruefplatz/internal/browsertest"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/anomaly"
	"github.com/pruefplatz/pruefplatz/models/backbones"
)

// trainTinyAnomaly trains a good-only model on a few demo flanges into a
// fresh registry and returns the registry and a folder holding one image
// with a painted defect: the test is about the heatmap's way to the page,
// not the model's quality (docs/anomaly.md has that).
func trainTinyAnomaly(t *testing.T) (reg, feed string) {
	t.Helper()
	repo, _ := filepath.Abs("../..")
	lib := filepath.Join(repo, ".deps", "onnxruntime", ortLibName)
	if err := onnx.Init(lib); err != nil {
		t.Fatalf("ONNX Runtime: %v (run make setup)", err)
	}
	dir := t.TempDir()
	data, reg, feed := filepath.Join(dir, "data"), filepath.Join(dir, "models"), filepath.Join(dir, "feed")
	if err := demo.WriteImages(data, 1, demo.SetDefects, []string{"ok"}, 10); err != nil {
		t.Fatal(err)
	}
	// The camera shows a good flange (one the model never saw) with a
	// striped patch painted on: an anomaly no threshold can miss.
	if err := demo.WriteImages(feed, 7, demo.SetDefects, []string{"ok"}, 1); err != nil {
		t.Fatal(err)
	}
	paintDefect(t, filepath.Join(feed, "ok", "000.jpg"))
	if err := os.MkdirAll(reg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repo, "models", "backbones"), filepath.Join(reg, "backbones")); err != nil {
		t.Fatal(err)
	}
	b, err := backbones.Get(filepath.Join(reg, backbones.Dir), backbones.MobileNetV2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = anomaly.Train(context.Background(), anomaly.Options{Data: data, Name: "anom", Registry: reg, OKLabels: []string{"ok"},
		Backbone: b, Threads: 2, TestFrac: 0.01, Search: nearestSearch(2)})
	if err != nil {
		t.Fatal(err)
	}
	return reg, filepath.Join(feed, "ok")
}

// paintDefect paints black and white stripes, 48 px square, on the
// image's centre.
func paintDefect(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := jpeg.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	b := src.Bounds()
	img := image.NewRGBA(b)
	draw.Draw(img, b, src, b.Min, draw.Src)
	cx, cy := b.Dx()/2, b.Dy()/2
	for y := cy - 24; y < cy+24; y++ {
		for x := cx - 24; x < cx+24; x++ {
			c := color.RGBA{255, 255, 255, 255}
			if (x/6)%2 == 0 {
				c = color.RGBA{0, 0, 0, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOperatorPageShowsHeatmap runs the real serve with an anomaly model
// on a camera that shows a cracked flange, records a verdict from the
// operator page (Check now) in headless Chromium and checks that the page
// shows the recorded frame with a heatmap over it and the hottest region
// outlined, that the stored record keeps the heatmap and names both model
// files in its sha256, and that the engineer page shows it later.
func TestOperatorPageShowsHeatmap(t *testing.T) {
	t.Parallel() // a whole station each: they mostly wait on frames, browsers and brokers
	reg, feed := trainTinyAnomaly(t)
	s := startServe(t, "--models", reg, "--model", "anom/v1", "--source", feed, "--trigger", "manual", "--kiosk-role", "operator,engineer")
	ctx := browsertest.New(t, 40*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+s.addr+"/"), chromedp.WaitVisible("#btn-trigger")); err != nil {
		t.Fatalf("operator page: %v\n%s", err, s.out.String())
	}
	// Wait for the first classified frame, then record one.
	deadline := time.Now().Add(30 * time.Second)
	for s.status(t).Live == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no live decision\n%s", s.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("btn-trigger").click(), true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible("#evidence"), chromedp.WaitVisible("#evidence-hot")); err != nil {
		ev, _ := http.Get("http://" + s.addr + "/api/verdicts?limit=1")
		var b []byte
		if ev != nil {
			b, _ = io.ReadAll(ev.Body)
			ev.Body.Close()
		}
		t.Fatalf("no heatmap on the page: %v\nverdicts: %.600s\n%s", err, b, s.out.String())
	}
	// The heatmap canvas is drawn (some cells coloured) and lies over the frame.
	type view struct {
		Big       string  `json:"big"`
		Painted   int     `json:"painted"`
		HotW      float64 `json:"hotW"`
		ImgLoaded bool    `json:"imgLoaded"`
	}
	var v view
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const c = document.getElementById("evidence-heat"), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		let painted = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) painted++;
		const img = document.getElementById("evidence-img");
		return JSON.stringify({big: document.getElementById("verdict-big").textContent, painted,
			hotW: document.getElementById("evidence-hot").getBoundingClientRect().width, imgLoaded: img.complete && img.naturalWidth > 0});
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatal(err)
	}
	if v.Big != "NOK" || v.Painted == 0 || v.HotW <= 0 || !v.ImgLoaded {
		t.Errorf("page shows %+v; want a NOK verdict with a painted heatmap, an outlined region and the frame", v)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	// The stored record keeps the heatmap, and its model sha256 covers the bank.
	var page struct {
		Verdicts []struct {
			Model struct {
				SHA256 string `json:"sha256"`
			} `json:"model"`
			Heatmap *struct {
				W    int    `json:"w"`
				Data []byte `json:"data"`
			} `json:"heatmap"`
		} `json:"verdicts"`
	}
	if err := json.Unmarshal(s.get(t, "/api/verdicts?limit=1"), &page); err != nil {
		t.Fatal(err)
	}
	card, err := models.Registry{Root: reg}.Get("anom", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Verdicts) != 1 || page.Verdicts[0].Heatmap == nil || len(page.Verdicts[0].Heatmap.Data) != 28*28 {
		t.Fatalf("stored verdict has no 28×28 heatmap: %+v", page.Verdicts)
	}
	if got := page.Verdicts[0].Model.SHA256; got != card.ContentSHA256() || got == card.ONNXSHA256 {
		t.Errorf("verdict names sha256 %s; want the content sha256 over model and bank %s", got, card.ContentSHA256())
	}
	if *updateScreenshots {
		if err := os.WriteFile(filepath.Join("..", "..", "station-ui", "screenshots", "operator-anomaly-heatmap.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The engineer page shows the stored heatmap over the verdict's thumbnail.
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+s.addr+"/engineer"), chromedp.WaitVisible("#verdicts canvas.evidence-heat")); err != nil {
		t.Errorf("engineer page shows no heatmap: %v", err)
	}
	if strings.Contains(s.out.String(), "panic") {
		t.Errorf("serve logged a panic:\n%s", s.out.String())
	}
}

// Only frames a person reviewed as OK join the good images; unreviewed
// machine verdicts and frames set to NOK stay out.
func TestConfirmedOKFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	add := func(out inspector.Outcome, img string, review *inspector.Review) {
		v := &inspector.Verdict{Time: time.Now(), Decision: inspector.Decision{Outcome: out, Label: string(out)}, Image: []byte(img), Thumb: []byte("t")}
		if err := st.Add(ctx, v); err != nil {
			t.Fatal(err)
		}
		if review != nil {
			if err := st.SetReview(ctx, v.ID, *review); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(inspector.OutcomeNOK, "false alarm", &inspector.Review{Outcome: inspector.OutcomeOK, Label: "ok", By: "op", At: time.Now()})
	add(inspector.OutcomeOK, "confirmed", &inspector.Review{Outcome: inspector.OutcomeOK, Label: "ok", By: "op", At: time.Now(), Confirmed: true})
	add(inspector.OutcomeOK, "unreviewed", nil)
	add(inspector.OutcomeOK, "missed defect", &inspector.Review{Outcome: inspector.OutcomeNOK, Label: "anomaly", By: "op", At: time.Now()})
	st.Close()
	paths, err := confirmedOKFrames(ctx, path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		got = append(got, string(b))
	}
	if strings.Join(got, ",") != "confirmed,false alarm" {
		t.Errorf("frames %q, want the confirmed one and the overridden false alarm", got)
	}
	if _, err := confirmedOKFrames(ctx, filepath.Join(t.TempDir(), "none.db"), t.TempDir()); err == nil {
		t.Error("a missing store gave no error")
	}
}

// An anomaly model lists, shows, activates and rolls back like a
// classifier, and a changed bank is refused at activation.
func TestAnomalyModelInRegistry(t *testing.T) {
	t.Parallel() // a whole station each: they mostly wait on frames, browsers and brokers
	reg, _ := trainTinyAnomaly(t)
	onnxtest.FindLibrary(t)
	run := func(args ...string) (string, error) {
		return runModels(t, append([]string{"--models", reg}, args...)...)
	}
	if out, err := run("list"); err != nil || !strings.Contains(out, "anom") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err := run("show", "anom/v1")
	if err != nil || !strings.Contains(out, "anomaly model: patchcore") || !strings.Contains(out, "content sha256") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if out, err := run("activate", "anom/v1"); err != nil || !strings.Contains(out, "active: anom/v1") {
		t.Fatalf("activate: %v\n%s", err, out)
	}
	bank := filepath.Join(reg, "anom", "v1", anomaly.BankFile)
	b, err := os.ReadFile(bank)
	if err != nil {
		t.Fatal(err)
	}
	b[20] ^= 0xff
	if err := os.WriteFile(bank, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run("activate", "anom/v1"); !errors.Is(err, models.ErrTampered) {
		t.Errorf("activate after changing the bank: %v, want ErrTampered", err)
	}
	reg2 := models.Registry{Root: reg}
	card, _ := reg2.Get("anom", "v1")
	if err := reg2.Verify(card); !errors.Is(err, models.ErrTampered) {
		t.Errorf("verify after changing the bank: %v, want ErrTampered", err)
	}
}

// pruefplatz eval on an anomaly model: the card's OK class is the good
// images, every other folder a defect class, and metrics.json carries the
// image AUROC, recall and false alarms at the card's thresholds and the
// recall per defect class.
func TestEvalAnomalyModel(t *testing.T) {
	t.Parallel()
	reg, _ := trainTinyAnomaly(t)
	data := filepath.Join(t.TempDir(), "data")
	// good flanges the model never saw, and the same flanges with stripes
	if err := demo.WriteImages(data, 9, demo.SetDefects, []string{"ok"}, 4); err != nil {
		t.Fatal(err)
	}
	goods, _ := filepath.Glob(filepath.Join(data, "ok", "*.jpg"))
	if err := os.MkdirAll(filepath.Join(data, "stripes"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, g := range goods {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(data, "stripes", filepath.Base(g))
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paintDefect(t, bad)
	}
	out := filepath.Join(t.TempDir(), "eval")
	text, err := runEval("--models", reg, "--model", "anom", "--data", data, "--out", out)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, text)
	}
	if !strings.Contains(text, "image AUROC") || !strings.Contains(text, "stripes") {
		t.Errorf("output lacks the AUROC or the defect class:\n%s", text)
	}
	b, err := os.ReadFile(filepath.Join(out, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		AUROC     *float64           `json:"auroc"`
		Recall    *float64           `json:"recall"`
		FA        *float64           `json:"false_alarms"`
		Good      int                `json:"good_images"`
		Defects   int                `json:"defect_images"`
		PerClass  map[string]float64 `json:"recall_per_class"`
		PerClassN map[string]int     `json:"images_per_class"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.AUROC == nil || m.Recall == nil || m.FA == nil {
		t.Fatalf("metrics.json lacks auroc, recall or false_alarms:\n%s", b)
	}
	t.Logf("%s", text)
	// the stripes are an anomaly no threshold can miss
	if *m.AUROC < 0.9 || *m.Recall < 0.75 || *m.FA > 0.25 {
		t.Errorf("auroc %.3f, recall %.2f, false alarms %.2f: want the painted stripes found", *m.AUROC, *m.Recall, *m.FA)
	}
	if _, ok := m.PerClass["stripes"]; !ok || m.PerClassN["stripes"] != len(goods) || m.Good != len(goods) || m.Defects != len(goods) {
		t.Errorf("per class %v, images %v: want the one defect class with %d images", m.PerClass, m.PerClassN, len(goods))
	}
}
