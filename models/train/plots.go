package train

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"os"

	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
	"gocv.io/x/gocv"
)

var (
	ink   = color.RGBA{30, 30, 30, 255}
	light = color.RGBA{220, 220, 220, 255}
	blue  = color.RGBA{200, 100, 30, 255} // BGR order in gocv
	red   = color.RGBA{40, 40, 210, 255}
)

// writeCurvePNG draws train and validation loss and validation accuracy per epoch.
func writeCurvePNG(path string, curve []models.EpochStats) error {
	w, h, l, r, t, b := 640, 360, 60, 60, 40, 50
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), h, w, gocv.MatTypeCV8UC3)
	defer m.Close()
	maxLoss := 0.0
	for _, c := range curve {
		maxLoss = math.Max(maxLoss, math.Max(c.TrainLoss, c.ValLoss))
	}
	if maxLoss == 0 {
		maxLoss = 1
	}
	px := func(e int) int { return l + (w-l-r)*(e-1)/max(1, len(curve)-1) }
	py := func(v, top float64) int { return h - b - int(float64(h-t-b)*v/top) }
	gocv.Rectangle(&m, image.Rect(l, t, w-r, h-b), light, 1)
	for i := 1; i < len(curve); i++ {
		gocv.Line(&m, image.Pt(px(i), py(curve[i-1].TrainLoss, maxLoss)), image.Pt(px(i+1), py(curve[i].TrainLoss, maxLoss)), blue, 2)
		gocv.Line(&m, image.Pt(px(i), py(curve[i-1].ValLoss, maxLoss)), image.Pt(px(i+1), py(curve[i].ValLoss, maxLoss)), red, 2)
		gocv.Line(&m, image.Pt(px(i), py(curve[i-1].ValAcc, 1)), image.Pt(px(i+1), py(curve[i].ValAcc, 1)), ink, 1)
	}
	font := gocv.FontHersheySimplex
	gocv.PutText(&m, "training curve", image.Pt(l, 25), font, 0.6, ink, 1)
	gocv.PutText(&m, "train loss", image.Pt(w-300, 25), font, 0.45, blue, 1)
	gocv.PutText(&m, "val loss", image.Pt(w-210, 25), font, 0.45, red, 1)
	gocv.PutText(&m, "val accuracy", image.Pt(w-135, 25), font, 0.45, ink, 1)
	gocv.PutText(&m, fmt.Sprintf("%.2f", maxLoss), image.Pt(5, t+5), font, 0.4, ink, 1)
	gocv.PutText(&m, "0", image.Pt(45, h-b), font, 0.4, ink, 1)
	gocv.PutText(&m, "100%", image.Pt(w-r+5, t+5), font, 0.4, ink, 1)
	gocv.PutText(&m, fmt.Sprintf("epoch 1 .. %d", len(curve)), image.Pt(l, h-20), font, 0.45, ink, 1)
	return writePNG(path, m)
}

// WriteConfusionPNG draws a confusion matrix with counts and a colour scale
// (rows: true class, columns: predicted class).
func WriteConfusionPNG(path string, met *models.Metrics) error {
	n := len(met.Labels)
	cell, left, top := 56, 150, 130
	w, h := left+n*cell+20, top+n*cell+40
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), h, w, gocv.MatTypeCV8UC3)
	defer m.Close()
	font := gocv.FontHersheySimplex
	gocv.PutText(&m, fmt.Sprintf("confusion: rows true, columns predicted (accuracy %.1f%%)", 100*met.Accuracy), image.Pt(10, 20), font, 0.45, ink, 1)
	for i, lab := range met.Labels {
		gocv.PutText(&m, lab, image.Pt(10, top+i*cell+cell/2+5), font, 0.45, ink, 1)
		// Column labels written diagonally would need rotation; numbers keep them short.
		gocv.PutText(&m, fmt.Sprintf("%d", i), image.Pt(left+i*cell+cell/2-5, top-10), font, 0.5, ink, 1)
		gocv.PutText(&m, fmt.Sprintf("%d=%s", i, lab), image.Pt(10, 40+i*15), font, 0.4, ink, 1)
	}
	for i := range met.Labels {
		rowSum := 0
		for _, v := range met.Confusion[i] {
			rowSum += v
		}
		for j, v := range met.Confusion[i] {
			frac := 0.0
			if rowSum > 0 {
				frac = float64(v) / float64(rowSum)
			}
			shade := uint8(255 - 200*frac)
			c := color.RGBA{255, shade, shade, 255} // white → blue
			if i != j && v > 0 {
				c = color.RGBA{shade, shade, 255, 255} // errors in red
			}
			r := image.Rect(left+j*cell, top+i*cell, left+(j+1)*cell, top+(i+1)*cell)
			gocv.Rectangle(&m, r, c, -1)
			gocv.Rectangle(&m, r, light, 1)
			txt := ink
			if frac > 0.6 {
				txt = color.RGBA{255, 255, 255, 255}
			}
			gocv.PutText(&m, fmt.Sprintf("%d", v), image.Pt(r.Min.X+8, r.Min.Y+cell/2+6), font, 0.5, txt, 1)
		}
	}
	return writePNG(path, m)
}

func writePNG(path string, m gocv.Mat) error {
	b, err := opencv.EncodePNG(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
