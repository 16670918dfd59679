package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"gocv.io/x/gocv"
)

func TestImagesDeterministic(t *testing.T) {
	for _, set := range []struct {
		name    string
		classes []string
	}{{SetParts, PartClasses}, {SetDefects, DefectClasses}} {
		for _, c := range set.classes {
			a, err := Image(7, set.name, c, 3)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := Image(7, set.name, c, 3)
			other, _ := Image(8, set.name, c, 3)
			if !bytes.Equal(a, b) {
				t.Errorf("%s/%s: same seed, different bytes", set.name, c)
			}
			if bytes.Equal(a, other) {
				t.Errorf("%s/%s: other seed, same bytes", set.name, c)
			}
			m, err := opencv.DecodeImage(a, opencv.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Cols() != Width || m.Rows() != Height {
				t.Errorf("%s/%s: %dx%d", set.name, c, m.Cols(), m.Rows())
			}
			m.Close()
		}
	}
	if _, err := Image(1, SetParts, "gear", 0); err == nil {
		t.Error("unknown class accepted")
	}
}

func TestGenerateLayoutAndStamp(t *testing.T) {
	out := t.TempDir()
	opt := Options{Seed: 3, PerClass: 2, Out: out, FeedParts: 2}
	if err := Generate(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	for set, classes := range map[string][]string{SetParts: PartClasses, SetDefects: DefectClasses} {
		for _, c := range classes {
			files, _ := filepath.Glob(filepath.Join(out, set, c, "*.jpg"))
			if len(files) != 2 {
				t.Errorf("%s/%s: %d files, want 2", set, c, len(files))
			}
		}
	}
	// Each set says what every image was shot on: the station's grey mat
	// for the defects, wood or a mat for the parts.
	for set, classes := range map[string][]string{SetParts: PartClasses, SetDefects: DefectClasses} {
		b, err := os.ReadFile(filepath.Join(out, set, ConditionsFile))
		if err != nil {
			t.Fatal(err)
		}
		var conds map[string]map[string]string
		if err := json.Unmarshal(b, &conds); err != nil {
			t.Fatal(err)
		}
		if len(conds) != 2*len(classes) {
			t.Errorf("%s: conditions of %d images, want %d", set, len(conds), 2*len(classes))
		}
		for p, c := range conds {
			bg := c["background"]
			if _, err := os.Stat(filepath.Join(out, set, p)); err != nil || (set == SetDefects && bg != "mat grey") ||
				!(bg == "wood" || strings.HasPrefix(bg, "mat ")) {
				t.Errorf("%s: %s background %q (%v)", set, p, bg, err)
			}
		}
	}
	if tmp, _ := filepath.Glob(filepath.Join(out, "*", "*", ".tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	// A second run with the same options finds the stamp and writes nothing.
	probe := filepath.Join(out, SetParts, "washer", "0000.jpg")
	before, err := os.Stat(probe)
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(out, SetParts, "washer", "0099.jpg")
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Generate(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	if after, err := os.Stat(probe); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Error("second run rewrote complete data despite the stamp")
	}
	// A missing file makes the data incomplete: it is regenerated, and
	// files left from an earlier run go.
	os.Remove(probe)
	if err := Generate(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(probe); err != nil {
		t.Error("missing file not regenerated")
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("stale file survived regeneration")
	}
	// Force redraws the sets (the feed shares the same switch; it is drawn
	// only once here, to keep the test quick).
	opt.Force = true
	before, _ = os.Stat(probe)
	time.Sleep(10 * time.Millisecond)
	if err := GenerateSets(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	if after, err := os.Stat(probe); err != nil || after.ModTime().Equal(before.ModTime()) {
		t.Error("Force did not regenerate")
	}
}

func TestFeedMatchesTimeline(t *testing.T) {
	out := t.TempDir()
	tl, err := GenerateFeed(context.Background(), FeedOptions{Seed: 1, Parts: 2, FPS: 10, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadTimeline(out)
	if err != nil || back.Frames != tl.Frames || len(back.Events) != 2 {
		t.Fatalf("timeline read back %+v, %v", back, err)
	}
	vc, err := gocv.VideoCaptureFile(filepath.Join(out, "feed.avi"))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	empty := gocv.NewMat()
	defer empty.Close()
	n := 0
	var diffRest, diffEmpty float64
	for vc.Read(&m) && !m.Empty() {
		if m.Cols() != tl.Width || m.Rows() != tl.Height {
			t.Fatalf("frame %d is %dx%d, timeline says %dx%d", n, m.Cols(), m.Rows(), tl.Width, tl.Height)
		}
		if n == 0 {
			m.CopyTo(&empty)
		}
		ev := tl.Events[0]
		if n == (ev.Settle+ev.Leave)/2 {
			diffRest = meanAbsDiff(m, empty)
		}
		if n == ev.Enter-1 {
			diffEmpty = meanAbsDiff(m, empty)
		}
		n++
	}
	if n != tl.Frames {
		t.Errorf("video has %d frames, timeline says %d", n, tl.Frames)
	}
	if fps := vc.Get(gocv.VideoCaptureFPS); fps != float64(tl.FPS) {
		t.Errorf("video plays at %g fps, timeline says %d", fps, tl.FPS)
	}
	if _, err := GenerateFeed(context.Background(), FeedOptions{Set: "gears", Out: t.TempDir()}); err == nil {
		t.Error("unknown set accepted")
	}
	// A resting part changes the picture far more than sensor noise does.
	if diffRest < 5*diffEmpty || diffRest < 3 {
		t.Errorf("part at rest differs from the empty table by %.2f, noise alone by %.2f", diffRest, diffEmpty)
	}
}

func meanAbsDiff(a, b gocv.Mat) float64 {
	d := gocv.NewMat()
	defer d.Close()
	gocv.AbsDiff(a, b, &d)
	s := d.Mean()
	return (s.Val1 + s.Val2 + s.Val3) / 3
}

// TestColourDoesNotTellClasses: a nearest-mean classifier on the part's mean
// colour must do little better than chance, so a model has to learn shapes.
func TestColourDoesNotTellClasses(t *testing.T) {
	const n = 12
	means := map[string][][3]float64{}
	for _, c := range PartClasses {
		for i := 0; i < n; i++ {
			means[c] = append(means[c], partColour(t, c, i))
		}
	}
	// Class centroids from the first half, tested on the second half.
	centroid := map[string][3]float64{}
	for c, ms := range means {
		var s [3]float64
		for _, m := range ms[:n/2] {
			for k := range s {
				s[k] += m[k] / (n / 2)
			}
		}
		centroid[c] = s
	}
	right, total := 0, 0
	for c, ms := range means {
		for _, m := range ms[n/2:] {
			best, bd := "", math.Inf(1)
			for cc, ce := range centroid {
				d := (m[0]-ce[0])*(m[0]-ce[0]) + (m[1]-ce[1])*(m[1]-ce[1]) + (m[2]-ce[2])*(m[2]-ce[2])
				if d < bd {
					best, bd = cc, d
				}
			}
			if best == c {
				right++
			}
			total++
		}
	}
	chance := 1.0 / float64(len(PartClasses))
	acc := float64(right) / float64(total)
	t.Logf("nearest mean colour: %.0f%% right (chance %.0f%%)", acc*100, chance*100)
	if acc > chance+0.25 {
		t.Errorf("mean colour alone classifies %.0f%% of parts (chance %.0f%%): colour is a trivial cue", acc*100, chance*100)
	}
}

// partColour renders a part and returns its mean BGR over the part's pixels.
func partColour(t *testing.T, class string, i int) [3]float64 {
	t.Helper()
	r, err := renderImage(11, SetParts, class, i, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.m.Close()
	mask, err := gocv.NewMatFromBytes(Height, Width, gocv.MatTypeCV8U, r.partMask)
	if err != nil {
		t.Fatal(err)
	}
	defer mask.Close()
	if gocv.CountNonZero(mask) < 500 {
		t.Fatalf("%s #%d: part covers only %d pixels", class, i, gocv.CountNonZero(mask))
	}
	s := r.m.MeanWithMask(mask)
	return [3]float64{s.Val1, s.Val2, s.Val3}
}

// TestDefectsAreSmall: each defect covers a few percent of the part, no
// more, and an OK flange has no defect pixels.
func TestDefectsAreSmall(t *testing.T) {
	for _, c := range DefectClasses {
		for i := range 10 {
			r, err := renderImage(5, SetDefects, c, i, true)
			if err != nil {
				t.Fatal(err)
			}
			r.m.Close()
			part, def := 0, 0
			for k := range r.partMask {
				part += int(r.partMask[k])
				def += int(r.defMask[k])
			}
			frac := float64(def) / float64(part)
			if c == "ok" {
				if def != 0 {
					t.Errorf("ok #%d has %d defect pixels", i, def)
				}
				continue
			}
			if frac < 0.005 || frac > 0.08 {
				t.Errorf("%s #%d covers %.2f%% of the part; want 0.5-8%%", c, i, 100*frac)
			}
			// The flange fills 40-60 % of the frame's height.
			if h := math.Sqrt(float64(part)/math.Pi) * 2 / Height; h < 0.4 || h > 0.6 {
				t.Errorf("%s #%d: flange spans %.0f%% of the height", c, i, 100*h)
			}
		}
	}
}

// TestSizesOverlap: every class comes in sizes that other classes have too,
// so the size of a part alone does not tell what it is.
func TestSizesOverlap(t *testing.T) {
	type span struct{ lo, hi float64 }
	spans := map[string]span{}
	for _, c := range PartClasses {
		s := span{math.Inf(1), math.Inf(-1)}
		for i := range 10 {
			r, err := renderImage(13, SetParts, c, i, true)
			if err != nil {
				t.Fatal(err)
			}
			r.m.Close()
			x0, y0, x1, y1 := Width, Height, -1, -1
			for k, v := range r.partMask {
				if v != 0 {
					x, y := k%Width, k/Width
					x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
				}
			}
			d := math.Hypot(float64(x1-x0), float64(y1-y0)) // bounding-box diagonal
			s.lo, s.hi = math.Min(s.lo, d), math.Max(s.hi, d)
		}
		spans[c] = s
		t.Logf("%-14s %3.0f-%3.0f px", c, s.lo, s.hi)
	}
	for a, sa := range spans {
		for b, sb := range spans {
			if sa.hi < sb.lo {
				t.Errorf("every %s (up to %.0f px) is smaller than every %s (from %.0f px)", a, sa.hi, b, sb.lo)
			}
		}
	}
}
