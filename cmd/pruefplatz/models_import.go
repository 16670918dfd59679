package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/models"
)

// newModelsImportCmd publishes an ONNX model exported elsewhere (e.g. PyTorch) with a card.
func newModelsImportCmd(root *string) *cobra.Command {
	var allowLabelChange bool
	var onnxPath, labelsPath, mean, std, resize, interp, okLabels, outputs, name, version string
	var size, channels int
	cmd := &cobra.Command{
		Use:   "import --onnx FILE --labels FILE --input-size N",
		Short: "Check an ONNX classifier's shapes against its labels and input spec, then publish it with a card",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := os.ReadFile(labelsPath)
			if err != nil {
				return err
			}
			var labels []string
			for _, l := range strings.Split(string(raw), "\n") {
				if l = strings.TrimSpace(l); l != "" {
					labels = append(labels, l)
				}
			}
			m, err := floats(mean)
			if err != nil {
				return fmt.Errorf("--mean: %w", err)
			}
			s, err := floats(std)
			if err != nil {
				return fmt.Errorf("--std: %w", err)
			}
			spec := inspector.InputSpec{Width: size, Height: size, Channels: channels, Resize: inspector.ResizeMode(resize), Mean: m, Std: s,
				Interpolation: inspector.Interpolation(interp)}
			if err := initORT(cmd); err != nil {
				return err
			}
			info, err := onnx.Inspect(onnxPath)
			if err != nil {
				return fmt.Errorf("import %s: %w", onnxPath, err)
			}
			if err := info.CheckShapes(spec, len(labels)); err != nil {
				return fmt.Errorf("import %s: %w", onnxPath, err)
			}
			sha, err := models.FileSHA256(onnxPath)
			if err != nil {
				return err
			}
			var ok []string
			if okLabels != "" {
				ok = strings.Split(okLabels, ",")
			}
			reg := models.Registry{Root: *root}
			if version == "" {
				version = reg.NextVersion(name)
			}
			th := inspector.Thresholds{Accept: 0.8, Reject: 0.2}
			why := "defaults until evaluated (pruefplatz eval): accept P(OK) >= 0.8, reject P(OK) <= 0.2"
			hasOK := false
			for _, o := range ok {
				for _, l := range labels {
					hasOK = hasOK || o == l
				}
			}
			if !hasOK {
				ok = nil
				th = inspector.Thresholds{Accept: 0.8}
				why = "defaults until evaluated (pruefplatz eval): accept the top class at probability >= 0.8"
			}
			card := &models.Card{Name: name, Version: version, Labels: labels, Input: spec, OKLabels: ok,
				Thresholds: th, ThresholdWhy: why, Architecture: "imported ONNX model", ONNXSHA256: sha,
				Outputs: outputs, Imported: true, Tool: "pruefplatz models import", Created: time.Now().UTC()}
			if len(info.Inputs) > 0 {
				card.ONNXInput = info.Inputs[0].Name
			}
			if len(info.Outputs) > 0 {
				card.ONNXOutput = info.Outputs[0].Name
			}
			if err := card.Validate(); err != nil {
				return err
			}
			if !allowLabelChange {
				if err := reg.CheckLabels(name, labels); err != nil {
					return fmt.Errorf("%w (pass --allow-label-change if that is intended)", err)
				}
			}
			dir, err := reg.Publish(card, map[string]string{models.ModelFile: onnxPath})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "published %s/%s in %s\n", name, version, dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&onnxPath, "onnx", "", "ONNX file with input [1,C,N,N] and output [1,labels]")
	f.StringVar(&labelsPath, "labels", "", "text file with one label per line, in output order")
	f.IntVar(&size, "input-size", 0, "input width and height N in pixels")
	f.IntVar(&channels, "channels", 3, "input channels (3 RGB or 1 grey)")
	f.StringVar(&mean, "mean", "0.5,0.5,0.5", "per-channel mean subtracted after /255")
	f.StringVar(&std, "std", "0.25,0.25,0.25", "per-channel std divided by after the mean")
	f.StringVar(&resize, "resize", "stretch", "resize mode of the input spec")
	f.StringVar(&interp, "interpolation", string(inspector.InterpArea), "last downscaling step after the 2×2 halvings: area (OpenCV INTER_AREA, closest to an antialiased resize) or linear")
	f.StringVar(&okLabels, "ok-labels", "ok", "comma-separated OK labels; none among the labels makes a parts model")
	f.StringVar(&outputs, "outputs", "logits", "what the ONNX output is: logits or probabilities")
	f.StringVar(&name, "name", "imported", "model name in the registry")
	f.StringVar(&version, "version", "", "version (default: the next vN)")
	f.BoolVar(&allowLabelChange, "allow-label-change", false, "publish even when the labels differ from the previous version's")
	for _, r := range []string{"onnx", "labels", "input-size"} {
		_ = cmd.MarkFlagRequired(r)
	}
	return cmd
}

func floats(s string) ([]float32, error) {
	var out []float32
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return nil, err
		}
		out = append(out, float32(v))
	}
	return out, nil
}
