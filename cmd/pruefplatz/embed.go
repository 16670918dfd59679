package main

import (
	"bufio"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/backbones"
)

// newEmbedCmd writes the backbone embeddings of a dataset's images.
func newEmbedCmd() *cobra.Command {
	var data, out, root, backbone, resize, backboneDir string
	var threads, batch int
	cmd := &cobra.Command{
		Use:   "embed --data DIR --out FILE.npy",
		Short: "Write the L2-normalised backbone embeddings of every image of an ImageFolder dataset",
		Long: `embed runs every image of DIR/<class>/<image> through the pretrained backbone, with the
same preprocessing as training and the station, and writes FILE.npy, a NumPy float32 array
[N, 1280] of unit-length vectors (np.load reads it), and FILE.csv beside it: one row per
vector with its index, file path, class and the file's sha256. Unreadable images are
skipped and named on stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" || out == "" {
				return errors.New("--data and --out are required")
			}
			ds, err := datasets.LoadWith(data, datasets.Options{})
			if err != nil {
				return err
			}
			for _, p := range ds.Problems {
				fmt.Fprintln(cmd.ErrOrStderr(), "dataset:", p)
			}
			b, err := backbones.Get(backbones.Folder(backboneDir, root), backbone)
			if err != nil {
				return err
			}
			if err := initORT(cmd); err != nil {
				return err
			}
			r, err := onnx.OpenBackbone(b, onnx.Options{Threads: threads})
			if err != nil {
				return err
			}
			defer r.Close()
			spec := embed.Spec(inspector.ResizeMode(resize), nil)
			e, err := embed.New(r, spec, batch)
			if err != nil {
				return err
			}
			pre, err := opencv.NewPreprocessor(spec)
			if err != nil {
				return err
			}
			defer pre.Close()
			// Unreadable images are dropped before embedding, so the
			// vectors and the index rows stay aligned.
			var samples []datasets.Sample
			for _, s := range ds.Samples {
				img, err := opencv.ReadImageFile(s.Path, opencv.Limits{})
				img.Close()
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "skipped:", err)
					continue
				}
				samples = append(samples, s)
			}
			vecs, err := e.Embed(cmd.Context(), len(samples), func(i int, dst []float32) error {
				img, err := opencv.ReadImageFile(samples[i].Path, opencv.Limits{})
				if err != nil {
					return err
				}
				defer img.Close()
				return pre.Run(img, dst)
			})
			if err != nil {
				return err
			}
			if err := writeNPY(out, vecs); err != nil {
				return err
			}
			csvPath := out[:len(out)-len(".npy")] + ".csv"
			if len(out) < 4 || out[len(out)-4:] != ".npy" {
				csvPath = out + ".csv"
			}
			if err := writeIndex(csvPath, samples); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d vectors of %d (%s, %s) in %s, index in %s\n", len(vecs), embed.Dim, b.Name, spec.Resize, out, csvPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "ImageFolder dataset DIR/<class>/*.jpg")
	f.StringVar(&out, "out", "", "output .npy file (float32 [N,1280]); the index goes to the same name with .csv")
	f.StringVar(&backboneDir, "backbones", "", "folder of the pretrained backbones (default: the registry's backbones/ when it has one, else models/backbones)")
	f.StringVar(&root, "models", "models", "model registry folder")
	f.StringVar(&backbone, "backbone", backbones.MobileNetV2, "pretrained backbone: "+fmt.Sprint(backbones.Names()))
	f.StringVar(&resize, "resize", string(defaultBackboneResize), "how images become the 224×224 input: stretch, letterbox or centercrop")
	f.IntVar(&threads, "threads", runtime.NumCPU(), "ONNX Runtime threads")
	f.IntVar(&batch, "batch", 16, "images per backbone run")
	return cmd
}

// writeNPY writes vecs as a NumPy .npy (format 1.0) float32 C-order array.
func writeNPY(path string, vecs [][]float32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", len(vecs), embed.Dim)
	// Magic, version, header length; the header is space-padded to a
	// multiple of 64 bytes and ends in a newline.
	pad := 64 - (10+len(hdr)+1)%64
	hdr += fmt.Sprintf("%*s\n", pad, "")
	w.WriteString("\x93NUMPY\x01\x00")
	binary.Write(w, binary.LittleEndian, uint16(len(hdr)))
	w.WriteString(hdr)
	buf := make([]byte, 4)
	for _, v := range vecs {
		for _, x := range v {
			binary.LittleEndian.PutUint32(buf, math.Float32bits(x))
			w.Write(buf)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeIndex writes one CSV row per vector: index, path, class, sha256.
func writeIndex(path string, samples []datasets.Sample) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"index", "path", "class", "sha256"})
	for i, s := range samples {
		sum, err := models.FileSHA256(s.Path)
		if err != nil {
			f.Close()
			return err
		}
		w.Write([]string{strconv.Itoa(i), s.Path, s.Class, sum})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
