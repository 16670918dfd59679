package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"gocv.io/x/gocv"
)

// FeedOptions say what GenerateFeed writes.
type FeedOptions struct {
	Seed    uint64
	Set     string // "defects" (the flange; the default) or "parts"
	Parts   int    // parts that come and go; default 14
	FPS     int    // default 15
	Out     string // folder for feed.avi and timeline.json
	Workers int    // frames rendered in parallel; default all cores
	// Progress, when set, is told the frames written so far.
	Progress func(done, total int)
}

// FeedEvent is one part's visit, in frame numbers: it starts to slide in at
// Enter (first in view one frame later), lies still from Settle, starts to
// slide out at Leave and is out of view from Gone. Frames outside every
// [Enter, Gone) show the empty table.
type FeedEvent struct {
	Class  string `json:"class"`
	Enter  int    `json:"enter"`
	Settle int    `json:"settle"`
	Leave  int    `json:"leave"`
	Gone   int    `json:"gone"`
}

// Timeline records what the feed shows when, for tests and demos.
type Timeline struct {
	FPS    int         `json:"fps"`
	Frames int         `json:"frames"`
	Width  int         `json:"width"`
	Height int         `json:"height"`
	Events []FeedEvent `json:"events"`
	Video  string      `json:"video"`
}

// visit is one part's path across the table.
type visit struct {
	FeedEvent
	pl                placed
	fromX, restX, toX int // sprite's left edge
	restY             int
}

// GenerateFeed writes Out/feed.avi (MJPG, 640×480) and Out/timeline.json:
// the empty table, then parts that slide in over 0.7 s, rest for two seconds
// and slide out, with 0.7 s of empty table between them. One table and one
// light serve the whole feed; the sensor noise is fresh in every frame, like
// a webcam's. With Set "defects", OK flanges alternate with the defect
// classes in turn. It returns an error for an unknown Set, ctx's error when
// cancelled, and the video writer's or file system's errors; the files
// appear only when complete.
func GenerateFeed(ctx context.Context, opt FeedOptions) (*Timeline, error) {
	if opt.Parts <= 0 {
		opt.Parts = 14
	}
	if opt.FPS <= 0 {
		opt.FPS = 15
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.NumCPU()
	}
	var classes []string
	var set string
	switch opt.Set {
	case "defects", "", SetDefects:
		classes, set = DefectClasses, SetDefects
	case "parts", SetParts:
		classes, set = PartClasses, SetParts
	default:
		return nil, fmt.Errorf("demo feed: unknown set %q (want \"defects\" or \"parts\")", opt.Set)
	}
	rng := rngFor(opt.Seed, "feed", set)
	// One table, one light for the whole feed, like a fixed station.
	kind := sceneFeed
	if set == SetDefects {
		kind = sceneStation
	}
	sc := newScene(rng, kind)
	sc.blur, sc.noise = 0.8, 1.2
	// Move, rest and gap lengths in frames.
	move, rest, gap := opt.FPS*7/10, opt.FPS*2, opt.FPS*7/10
	frame := gap * 2
	var visits []visit
	for k := 0; k < opt.Parts; k++ {
		// OK parts more often, as on a real line, but every class shows up.
		class := classes[k%len(classes)]
		if contains(classes, "ok") {
			class = classes[(k/2)%len(classes)]
			if k%2 == 0 {
				class = "ok"
			}
		}
		var (
			pd    partDef
			err   error
			scale float64
		)
		if set == SetDefects {
			pd, err = flange(class, rng)
			scale = flangeScale(rng)
		} else {
			pd, err = sparePart(class, rng)
			scale = 1.45 * (0.8 + 0.4*rng.Float64())
		}
		if err != nil {
			return nil, err
		}
		sp := makeSprite(pd, scale, rng.Float64()*2*math.Pi)
		mt := metals[rng.IntN(len(metals))]
		if set == SetDefects {
			mt = flangeMetal
		}
		v := visit{pl: sc.prepare(rng, sp, mt)}
		v.Class = class
		free := func(n int) int { return max(0, n-sp.S-40) }
		v.restX = 20 + int(rng.Float64()*float64(free(Width)))
		v.restY = 20 + int(rng.Float64()*float64(free(Height)))
		if set == SetDefects { // flanges are laid on the placement mark
			_, cx, cy := placedPose(rng)
			v.restX, v.restY = int(cx)-sp.S/2, int(cy)-sp.S/2
		}
		v.fromX, v.toX = -sp.S-v.pl.pad-20, Width+v.pl.pad+20
		if k%3 == 2 { // some parts are taken back the way they came
			v.toX = v.fromX
		}
		v.Enter, v.Settle = frame, frame+move
		v.Leave = v.Settle + rest
		v.Gone = v.Leave + move
		frame = v.Gone + gap
		visits = append(visits, v)
	}
	tl := &Timeline{FPS: opt.FPS, Frames: frame, Width: Width, Height: Height, Video: "feed.avi"}
	for _, v := range visits {
		tl.Events = append(tl.Events, v.FeedEvent)
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, err
	}
	tmp := filepath.Join(opt.Out, ".feed-tmp.avi")
	w, err := gocv.VideoWriterFile(tmp, "MJPG", float64(opt.FPS), Width, Height, true)
	if err != nil {
		return nil, fmt.Errorf("demo feed: %w", err)
	}
	defer os.Remove(tmp)
	// Render a window of frames in parallel, then write them in order.
	chunk := 4 * opt.Workers
	for start := 0; start < frame; start += chunk {
		if err := ctx.Err(); err != nil {
			w.Close()
			return nil, err
		}
		n := min(chunk, frame-start)
		mats := make([]gocv.Mat, n)
		var wg sync.WaitGroup
		sem := make(chan struct{}, opt.Workers)
		for i := 0; i < n; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				f := start + i
				img := make([]float32, Width*Height*3)
				if v, x := partAt(visits, f); v != nil {
					sc.compose(img, &v.pl, x, v.restY, nil, nil)
				} else {
					sc.compose(img, nil, 0, 0, nil, nil)
				}
				mats[i] = sc.camera(rngFor(opt.Seed, "feed-noise", fmt.Sprint(f)), img, make([]byte, Width*Height*3))
			}(i)
		}
		wg.Wait()
		for _, m := range mats {
			err = w.Write(m)
			m.Close()
		}
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("demo feed: %w", err)
		}
		if opt.Progress != nil {
			opt.Progress(start+n, frame)
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(opt.Out, "feed.avi")); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(tl, "", "  ")
	if err := writeAtomic(filepath.Join(opt.Out, "timeline.json"), b); err != nil {
		return nil, err
	}
	return tl, nil
}

// ReadTimeline reads a feed's timeline.json from dir. It returns the file
// system's error, a JSON error, or an error for a timeline without frames.
func ReadTimeline(dir string) (*Timeline, error) {
	b, err := os.ReadFile(filepath.Join(dir, "timeline.json"))
	if err != nil {
		return nil, err
	}
	var tl Timeline
	if err := json.Unmarshal(b, &tl); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if tl.Frames == 0 {
		return nil, errNoFrames
	}
	return &tl, nil
}

// partAt returns the part visible in frame f and the x of its sprite.
func partAt(visits []visit, f int) (*visit, int) {
	for i := range visits {
		v := &visits[i]
		if f < v.Enter || f >= v.Gone {
			continue
		}
		switch {
		case f < v.Settle:
			return v, lerp(v.fromX, v.restX, easeOut(float64(f-v.Enter)/float64(v.Settle-v.Enter)))
		case f < v.Leave:
			return v, v.restX
		default:
			return v, lerp(v.restX, v.toX, easeIn(float64(f-v.Leave)/float64(v.Gone-v.Leave)))
		}
	}
	return nil, 0
}

// A pushed part decelerates into place and accelerates away.
func easeOut(t float64) float64 { return 1 - (1-t)*(1-t) }
func easeIn(t float64) float64  { return t * t }

func lerp(a, b int, t float64) int { return a + int(math.Round(float64(b-a)*t)) }
