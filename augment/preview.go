package augment

import (
	"fmt"
	"image"
	"image/color"
	"path/filepath"

	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"gocv.io/x/gocv"
)

const (
	previewRows     = 8
	previewVariants = 7
	previewTile     = 128
)

// writePreview writes a contact sheet: one row per original (the first
// previewRows in sorted order), the original first, then its variants as
// written to disk.
func writePreview(opt Options, man *Manifest, create func(dir, pattern string) (TempFile, error)) error {
	type row struct {
		src  string
		outs []string
	}
	var rows []row
	for _, o := range man.Outputs {
		if len(rows) == 0 || rows[len(rows)-1].src != o.Source {
			if len(rows) == previewRows {
				break
			}
			rows = append(rows, row{src: o.Source})
		}
		r := &rows[len(rows)-1]
		if len(r.outs) < previewVariants {
			r.outs = append(r.outs, o.Path)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	cols := 1 + min(opt.PerImage, previewVariants)
	sheet := gocv.NewMatWithSize(len(rows)*previewTile, cols*previewTile, gocv.MatTypeCV8UC3)
	defer sheet.Close()
	tile := gocv.NewMat()
	defer tile.Close()
	for y, r := range rows {
		paths := []string{filepath.Join(opt.In, filepath.FromSlash(r.src))}
		for _, p := range r.outs {
			paths = append(paths, filepath.Join(opt.Out, filepath.FromSlash(p)))
		}
		for x, p := range paths {
			m, err := opencv.ReadImageFile(p, opencv.Limits{})
			if err != nil {
				m.Close()
				return fmt.Errorf("preview: %w", err)
			}
			fitTile(m, &tile)
			m.Close()
			cell := sheet.Region(image.Rect(x*previewTile, y*previewTile, (x+1)*previewTile, (y+1)*previewTile))
			tile.CopyTo(&cell)
			cell.Close()
		}
	}
	enc, err := opencv.EncodePNG(sheet)
	if err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	return writeAtomic(create, opt.Preview, enc)
}

// fitTile scales m to fit a previewTile square, centred on black.
func fitTile(m gocv.Mat, dst *gocv.Mat) {
	w, h := m.Cols(), m.Rows()
	s := float64(previewTile) / float64(max(w, h))
	nw, nh := max(1, int(float64(w)*s)), max(1, int(float64(h)*s))
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(m, &small, image.Pt(nw, nh), 0, 0, gocv.InterpolationArea)
	top, left := (previewTile-nh)/2, (previewTile-nw)/2
	gocv.CopyMakeBorder(small, dst, top, previewTile-nh-top, left, previewTile-nw-left, gocv.BorderConstant, colorBlack)
}

var colorBlack = color.RGBA{A: 255}
