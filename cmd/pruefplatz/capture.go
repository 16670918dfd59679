package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector/capture"
	"github.com/pruefplatz/pruefplatz/inspector/capture/serialrig"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/spf13/cobra"
)

type captureFlags struct {
	source, class, part, out, mode, rig, roi, by, resume string
	angles, perView, simPart, still                      int
	interval, rigTimeout                                 time.Duration
	flip                                                 bool
	seed                                                 uint64
	cat                                                  catalogueFlags
}

func newCaptureCmd() *cobra.Command {
	var f captureFlags
	cmd := &cobra.Command{
		Use:   "capture --class NAME|--part NUMBER --out DATASET",
		Short: "Photograph a part from several angles into a dataset (a capture session)",
		Long: `capture runs one capture session: it turns the part (turntable mode: --rig sim or
--rig serial:/dev/ttyUSB0), asks you to turn it (hand mode: the frame is taken when the turned
part lies still for --still frames, or when you press Enter) or takes a frame every --interval
(timed mode), checks every frame (sharpness, exposure, part present,
not a near duplicate) and writes the accepted frames as DATASET/<class>/<session>_vNN_aDDD_NN.jpg.
The session's manifest, contact sheet and archive go to DATASET/.sessions/<session>/.
With --part the frames also become reference photos of that catalogue part.

A fault (the rig not answering, the camera lost) pauses the session: resume it with
--resume ID. A full disk or Ctrl-C stops it; it keeps every frame taken so far.

--rig sim photographs a demo spare part (--class one of the demo classes, --sim-part
which one) on a simulated turntable: a whole session with no hardware.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runCapture(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.source, "source", "", "camera: device index, video file, folder or stream URL (default with --rig sim: the simulated camera)")
	fl.StringVar(&f.class, "class", "", "class the frames are training data for")
	fl.StringVar(&f.part, "part", "", "catalogue part number the frames are reference photos of")
	fl.StringVar(&f.out, "out", "", "dataset folder (ImageFolder) the session writes into")
	fl.StringVar(&f.mode, "mode", "turntable", "turntable, hand or timed")
	fl.StringVar(&f.rig, "rig", "sim", "turntable mode: sim or serial:/dev/ttyUSB0")
	fl.DurationVar(&f.rigTimeout, "rig-timeout", 2*time.Second, "how long the serial turntable may take to answer")
	fl.IntVar(&f.angles, "angles", 12, "views, evenly spread over 360°")
	fl.IntVar(&f.perView, "per-view", 1, "frames per view")
	fl.BoolVar(&f.flip, "flip", false, "hand mode: the same views again with the part turned over")
	fl.IntVar(&f.still, "still", 4, "hand mode: take the frame once the turned part lies still for this many frames (0: only Enter)")
	fl.DurationVar(&f.interval, "interval", 500*time.Millisecond, "timed mode: time between frames")
	fl.StringVar(&f.roi, "roi", "", "x,y,w,h: cut frames to the station's region of interest")
	fl.StringVar(&f.by, "by", "", "who captures (default: the login name)")
	fl.StringVar(&f.resume, "resume", "", "resume the paused or incomplete session with this id")
	fl.IntVar(&f.simPart, "sim-part", 0, "--rig sim: which demo part of the class lies on the turntable")
	fl.Uint64Var(&f.seed, "seed", 1, "--rig sim: demo generator seed")
	f.cat.register(cmd)
	return cmd
}

// simulated reports whether the session uses the simulated turntable as
// its rig and camera.
func (f captureFlags) simulated() bool { return f.mode == string(capture.Turntable) && f.rig == "sim" }

func runCapture(cmd *cobra.Command, f captureFlags) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	if f.out == "" {
		return fmt.Errorf("capture: --out DATASET is required")
	}
	if f.by == "" {
		f.by = currentUser()
	}
	st := &capture.Store{Root: f.out}
	var s *capture.Session
	if f.resume != "" {
		var err error
		if s, err = st.Load(f.resume, nil); err != nil {
			return err
		}
		if s.State == capture.Done {
			return fmt.Errorf("capture: session %s is done already", s.ID)
		}
		f.mode, f.class, f.part = string(s.Mode), s.Target.Class, s.Target.Part
		if strings.HasPrefix(s.Rig, "serial:") && f.rig == "sim" {
			f.rig = s.Rig
		}
		fmt.Fprintf(out, "resuming session %s (%s) at view %d of %d\n", s.ID, s.State, s.NextView()+1, len(s.Views))
	}
	roi, err := parseROI(f.roi)
	if err != nil {
		return err
	}
	r := &capture.Runner{Store: st, Notify: func(_ *capture.Session, e capture.Event) { printEvent(out, e) }}
	info := capture.CameraInfo{Source: f.source, ROI: f.roi}
	switch {
	case f.simulated():
		if f.source != "" {
			return fmt.Errorf("capture: --rig sim brings its own camera; leave out --source")
		}
		tt, err := demo.NewTurntable(f.seed, f.class, f.simPart)
		if err != nil {
			return err
		}
		empty, err := tt.Empty()
		if err != nil {
			return err
		}
		if r.Gates.Background, err = jpeg.Decode(bytes.NewReader(empty)); err != nil {
			return err
		}
		r.Rig, r.Camera = tt, tt
		info = capture.CameraInfo{Source: "demo turntable", Width: demo.Width, Height: demo.Height,
			Settings: map[string]string{"seed": fmt.Sprint(f.seed), "part": fmt.Sprint(f.simPart)}}
	default:
		if f.source == "" {
			return fmt.Errorf("capture: --source is required (a camera index, file or URL) unless --rig sim")
		}
		src, err := opencv.OpenSource(f.source, opencv.SourceOptions{})
		if err != nil {
			return err
		}
		defer src.Close()
		cam := opencv.NewStillCamera(src, roi)
		defer cam.Close()
		r.Camera = cam
		if f.mode == string(capture.Turntable) {
			dev, ok := strings.CutPrefix(f.rig, "serial:")
			if !ok {
				return fmt.Errorf("capture: --rig %q: want sim or serial:/dev/DEVICE", f.rig)
			}
			rig, err := serialrig.Open(dev, serialrig.Options{Timeout: f.rigTimeout})
			if err != nil {
				return err
			}
			defer rig.Close()
			r.Rig = rig
		}
	}
	if f.mode == string(capture.Hand) {
		auto := &capture.HandTrigger{Camera: r.Camera, Gates: r.Gates, Still: f.still}
		if f.still <= 0 {
			auto.Still = -1
		}
		tctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r.Trigger = handTrigger(tctx, cmd.InOrStdin(), out, auto)
	}
	if f.part != "" {
		oc, err := openCatalogue(cmd, f.cat, false)
		if err != nil {
			return fmt.Errorf("capture: --part needs the catalogue: %w", err)
		}
		defer oc.Close()
		r.Sink = oc.svc
	}
	if s == nil {
		rigName := ""
		if r.Rig != nil {
			rigName = r.Rig.Name()
		}
		s, err = capture.NewSession(capture.Spec{Target: capture.Target{Class: f.class, Part: f.part}, Mode: capture.Mode(f.mode),
			Angles: f.angles, PerView: f.perView, Interval: f.interval, Flip: f.flip, Rig: rigName, Camera: info, By: f.by}, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "session %s: %s, %d views of %s into %s\n", s.ID, s.Mode, len(s.Views), s.Target.Folder(), f.out)
	}
	start := time.Now()
	err = r.Run(ctx, s)
	took := time.Since(start)
	dir := filepath.Join(f.out, capture.SessionsDir, s.ID)
	switch {
	case err == nil:
		fmt.Fprintf(out, "session %s done: %d frames in %.1f s (%d rejected and retaken)\n  frames:        %s\n  manifest:      %s\n  contact sheet: %s\n  archive:       %s\n",
			s.ID, len(s.Frames), took.Seconds(), len(s.Rejected), filepath.Join(f.out, s.Target.Folder()),
			filepath.Join(dir, capture.ManifestName), filepath.Join(dir, capture.SheetName), filepath.Join(dir, capture.ArchiveName(s.ID)))
		return nil
	case errors.Is(err, capture.ErrPaused):
		return fmt.Errorf("%w\n  %d of %d frames kept; fix the cause, then resume: pruefplatz capture --out %s --resume %s", err, len(s.Frames), s.TargetCount(), f.out, s.ID)
	default:
		return fmt.Errorf("%w\n  manifest: %s", err, filepath.Join(dir, capture.ManifestName))
	}
}

// handTrigger takes the frame of each view by hand: when auto fires (the
// turned part lies still; the station page uses the same trigger) or when a
// line arrives on in (Enter). Lines are read one per view, so Enter pressed
// ahead takes the next views' frames in turn. When in ends, only auto is
// left; with auto off (Still < 0) the session then pauses, as nothing could
// take a frame any more. The reader hands on no more lines once ctx ends
// (a read blocked on a terminal ends with the process).
func handTrigger(ctx context.Context, in io.Reader, out io.Writer, auto *capture.HandTrigger) func(context.Context, *capture.Session, int) error {
	lines := make(chan error)
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- nil:
			case <-ctx.Done():
				return
			}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		select {
		case lines <- err:
		case <-ctx.Done():
		}
	}()
	var ended error // why in ended, once it has
	return func(ctx context.Context, s *capture.Session, v int) error {
		how := "press Enter"
		if auto.Still >= 0 {
			how = "hold it still or press Enter"
		}
		fmt.Fprintf(out, "view %d/%d: %s, then %s\n", v+1, len(s.Views), s.Views[v].Ask, how)
		if ended != nil && auto.Still < 0 {
			return fmt.Errorf("%w: no more input: %w", capture.ErrCameraLost, ended)
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		fired := make(chan error, 1)
		go func() { fired <- auto.Wait(wctx, s, v) }()
		in := lines
		if ended != nil {
			in = nil
		}
		for {
			select {
			case err := <-fired:
				if err == nil {
					fmt.Fprintf(out, "  the part lies still: taking the frame\n")
				}
				return err
			case err := <-in:
				if err == nil {
					cancel()
					<-fired // the camera is the runner's again
					return nil
				}
				ended, in = err, nil
				if auto.Still < 0 {
					cancel()
					<-fired
					return fmt.Errorf("%w: no more input: %w", capture.ErrCameraLost, err)
				}
			}
		}
	}
}

func printEvent(w io.Writer, e capture.Event) {
	switch e.Kind {
	case "frame":
		fmt.Fprintf(w, "  %3g°  ok        %d/%d  %s\n", e.Angle, e.Taken, e.Target, e.File)
	case "rejected":
		fmt.Fprintf(w, "  %3g°  rejected  %s\n", e.Angle, e.Reason)
	}
}
