package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pruefplatz/pruefplatz/inspector"
	ia "github.com/pruefplatz/pruefplatz/inspector/anomaly"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/anomaly"
	"github.com/pruefplatz/pruefplatz/models/backbones"
)

func newBenchAnomalyCmd() *cobra.Command {
	var root, model, data string
	var frames, threads int
	cmd := &cobra.Command{
		Use:   "anomaly --model NAME[/VERSION] --data DIR",
		Short: "Per-frame time of an anomaly model (preprocessing, backbone, bank search, heatmap), p50 and p99, against the bare backbone",
		Long: `anomaly runs the registered anomaly model on the images of DIR (any depth, cycled) as
the station does, frame by frame: preprocessing, the backbone's feature maps, the
nearest-neighbour search and the heatmap. Then it runs the bare backbone (embedding only) on
the same input tensors and prints both p50 and p99 and their ratio, with the bank's memory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, version, err := modelRef([]string{model})
			if err != nil {
				return err
			}
			reg := models.Registry{Root: root}
			card, err := reg.Get(name, version)
			if err != nil {
				return err
			}
			if card.Kind != models.KindAnomaly {
				return fmt.Errorf("%s/%s is not an anomaly model", card.Name, card.Version)
			}
			if err := reg.Verify(card); err != nil {
				return err
			}
			lib, err := ortLibPath(cmd)
			if err != nil {
				return err
			}
			if err := onnx.Init(lib); err != nil {
				return err
			}
			m, err := anomaly.Open(card, reg.Dir(card.Name, card.Version), onnx.Options{Threads: threads}, nearestSearch(threads))
			if err != nil {
				return err
			}
			defer m.Close()
			var files []string
			filepath.WalkDir(data, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && (filepath.Ext(p) == ".jpg" || filepath.Ext(p) == ".png") {
					files = append(files, p)
				}
				return nil
			})
			if len(files) == 0 {
				return errors.New("no images in --data")
			}
			sort.Strings(files)
			files = files[:min(len(files), 50)]
			pre, err := opencv.NewPreprocessor(card.Input)
			if err != nil {
				return err
			}
			defer pre.Close()
			var imgs []func() error
			x := make([]float32, card.Input.TensorLen())
			var tensors [][]float32
			for _, f := range files {
				img, err := opencv.ReadImageFile(f, opencv.Limits{})
				if err != nil {
					img.Close()
					return err
				}
				defer img.Close()
				imgs = append(imgs, func() error { return pre.Run(img, x) })
				t := make([]float32, len(x))
				if err := pre.Run(img, t); err != nil {
					return err
				}
				tensors = append(tensors, t)
			}
			ctx := context.Background()
			full := func(i int) error {
				if err := imgs[i%len(imgs)](); err != nil {
					return err
				}
				_, hm, err := m.Locate(ctx, x)
				if hm != nil {
					hm.Area = inspector.InputArea(pre.Spec(), 640, 480)
				}
				return err
			}
			g := card.Anomaly.Grid
			tiles := make([]float32, len(x))
			// The bare backbone is the shipped one: a model whose
			// model.onnx is pruned to the feature maps has no embedding.
			bareRunner := m.Runner()
			if r, ok := bareRunner.(*onnx.Backbone); ok && r.Pruned() && card.Backbone != nil {
				b, err := backbones.Get(backbones.Folder("", root), card.Backbone.Name)
				if err != nil {
					return err
				}
				// the same runtime settings as the model's backbone: its
				// threads must not spin on the cores the other case uses
				full, err := onnx.OpenBackbone(b, onnx.Options{Threads: threads, NoSpin: true})
				if err != nil {
					return err
				}
				defer full.Close()
				bareRunner = full
			}
			bare := func(i int) error {
				ia.Tiles(tensors[i%len(tensors)], g, tiles)
				_, err := bareRunner.Run(ctx, tiles, g*g, 0)
				return err
			}
			out := cmd.OutOrStdout()
			graph := "the whole backbone"
			if bareRunner != m.Runner() {
				graph = "backbone pruned to " + strings.Join(onnx.FeatureOutputs, ", ")
			}
			fmt.Fprintf(out, "%s/%s: %d×%d tiles, bank %d patches (%.1f MB in RAM as float32), model.onnx: %s, %d ONNX Runtime threads, GOMAXPROCS %d, %d frames\n",
				card.Name, card.Version, g, g, m.Bank.Len(), float64(m.Bank.Len()*m.Bank.Dim*4)/1e6, graph, threads, runtime.GOMAXPROCS(0), frames)
			feats := func(i int) error {
				_, err := m.Features(ctx, tensors[i%len(tensors)])
				return err
			}
			maps := func(i int) error {
				ia.Tiles(tensors[i%len(tensors)], g, tiles)
				_, err := m.Runner().Run(ctx, tiles, g*g, embed.FeatS8|embed.FeatS16)
				return err
			}
			// Round robin, frame by frame: the other jobs on a shared
			// machine slow every case alike, so the ratio holds up.
			t, err := timeFrames(frames, full, bare, maps, feats)
			if err != nil {
				return err
			}
			fp50, fp99, bp50, bp99 := t[0][0], t[0][1], t[1][0], t[1][1]
			mp50, mp99, ep50, ep99 := t[2][0], t[2][1], t[3][0], t[3][1]
			fmt.Fprintf(out, "backbone with feature maps:   p50 %.1f ms, p99 %.1f ms\n", mp50, mp99)
			fmt.Fprintf(out, "patch features (maps + Go):   p50 %.1f ms, p99 %.1f ms\n", ep50, ep99)
			fmt.Fprintf(out, "per frame, heatmap included: p50 %.1f ms, p99 %.1f ms\n", fp50, fp99)
			fmt.Fprintf(out, "bare backbone, same tensor:   p50 %.1f ms, p99 %.1f ms (%d×%d tiles, embedding only)\n", bp50, bp99, g, g)
			fmt.Fprintf(out, "ratio: p50 %.2f×, p99 %.2f×\n", fp50/bp50, fp99/bp99)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&root, "models", "models", "model registry folder")
	f.StringVar(&model, "model", "", "anomaly model NAME or NAME/VERSION")
	f.StringVar(&data, "data", "datasets/demo-defects", "folder of images to run (the first 50, cycled)")
	f.IntVar(&frames, "frames", 200, "frames to time per case (after 10 warm-up frames)")
	f.IntVar(&threads, "threads", 2, "ONNX Runtime threads")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

// timeFrames runs the cases in turn, frame by frame, for frames frames
// after ten warm-up rounds, and returns each case's p50 and p99 in
// milliseconds.
func timeFrames(frames int, cases ...func(i int) error) ([][2]float64, error) {
	for i := 0; i < 10; i++ {
		for _, f := range cases {
			if err := f(i); err != nil {
				return nil, err
			}
		}
	}
	ms := make([][]float64, len(cases))
	for i := 0; i < frames; i++ {
		for c, f := range cases {
			t := time.Now()
			if err := f(i); err != nil {
				return nil, err
			}
			ms[c] = append(ms[c], float64(time.Since(t).Microseconds())/1000)
		}
	}
	out := make([][2]float64, len(cases))
	for c, m := range ms {
		sort.Float64s(m)
		at := func(q float64) float64 { return m[min(len(m)-1, int(q*float64(len(m))))] }
		out[c] = [2]float64{at(0.5), at(0.99)}
	}
	return out, nil
}
