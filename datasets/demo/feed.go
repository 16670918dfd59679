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
	Set     string // "defects" (the flange) or "parts"
	Parts   int    // parts that come and go; default 14
	FPS     int    // default 15
	Out     string // folder for feed.avi and timeline.json
	Workers int
}

// FeedEvent is one part's visit: it enters at frame Enter, rests from Settle
// and starts to leave at Leave; it is gone at Gone.
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
	pt         part
	from, rest pose
	to         pose
}

// GenerateFeed writes Out/feed.avi (MJPG) and Out/timeline.json: the empty
// table, then parts that slide in, rest for two seconds and slide out, one
// after another, with fresh sensor noise in every frame like a webcam.
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
	classes, set := DefectClasses, SetDefects
	if opt.Set == "parts" {
		classes, set = PartClasses, SetParts
	}
	rng := rngFor(opt.Seed, "feed", set)
	lk := randomLook(rng)
	lk.blur, lk.noise = 0.8, 3.5
	// Move, rest and gap lengths in frames.
	move, rest, gap := opt.FPS*7/10, opt.FPS*2, opt.FPS*7/10
	frame := gap * 2
	var visits []visit
	for k := 0; k < opt.Parts; k++ {
		// OK parts more often, as on a real line, but every class shows up.
		class := classes[k%len(classes)]
		if k%2 == 1 && contains(classes, "ok") {
			class = "ok"
		}
		var v visit
		v.Class = class
		if set == SetDefects {
			v.pt.draw = flange(class, rng)
			v.rest.R = 130 + 35*rng.Float64()
		} else {
			v.pt.draw = sparePart(class, rng)
			v.rest.R = 70 + 45*rng.Float64()
		}
		v.pt.metal, v.pt.spec, v.pt.shade, v.pt.gloss = randomPartLook(rng)
		r := v.rest.R
		v.rest.CX = Width/2 + (rng.Float64()-0.5)*(Width-2*r-40)
		v.rest.CY = Height/2 + (rng.Float64()-0.5)*(Height-2*r-40)
		v.rest.Theta = rng.Float64() * 2 * math.Pi
		v.from, v.to = v.rest, v.rest
		v.from.CX, v.from.Theta = -r-5, v.rest.Theta-0.4
		v.to.CX, v.to.Theta = Width+r+5, v.rest.Theta+0.3
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
				mats[i] = render(lk, partsAt(visits, f), rngFor(opt.Seed, "feed-noise", fmt.Sprint(f)))
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

// ReadTimeline reads a feed's timeline.json.
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

// partsAt returns the parts visible in frame f, posed.
func partsAt(visits []visit, f int) []part {
	for _, v := range visits {
		if f < v.Enter || f >= v.Gone {
			continue
		}
		pt := v.pt
		switch {
		case f < v.Settle:
			pt.pose = lerp(v.from, v.rest, ease(float64(f-v.Enter)/float64(v.Settle-v.Enter)))
		case f < v.Leave:
			pt.pose = v.rest
		default:
			pt.pose = lerp(v.rest, v.to, ease(float64(f-v.Leave)/float64(v.Gone-v.Leave)))
		}
		return []part{pt}
	}
	return nil
}

func ease(t float64) float64 { return t * t * (3 - 2*t) }

func lerp(a, b pose, t float64) pose {
	return pose{CX: a.CX + (b.CX-a.CX)*t, CY: a.CY + (b.CY-a.CY)*t, R: a.R, Theta: a.Theta + (b.Theta-a.Theta)*t}
}
