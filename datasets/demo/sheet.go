package demo

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"gocv.io/x/gocv"
)

// ContactSheet writes a PNG with up to perClass thumbnails (thumbW pixels
// wide) of each class folder of an ImageFolder dataset, one row per class,
// labelled with the class name. It returns an error when datasetDir cannot
// be read or has no class folders, or when out cannot be written; unreadable
// images are left out.
func ContactSheet(datasetDir, out string, perClass, thumbW int) error {
	entries, err := os.ReadDir(datasetDir)
	if err != nil {
		return err
	}
	var classes []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			classes = append(classes, e.Name())
		}
	}
	sort.Strings(classes)
	if len(classes) == 0 {
		return fmt.Errorf("contact sheet: %s has no class folders", datasetDir)
	}
	thumbH := thumbW * 3 / 4
	label, gap := 22, 4
	sheet := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0),
		len(classes)*(thumbH+label+gap)+gap, perClass*(thumbW+gap)+gap, gocv.MatTypeCV8UC3)
	defer sheet.Close()
	for row, c := range classes {
		y := gap + row*(thumbH+label+gap)
		gocv.PutText(&sheet, c, image.Pt(gap, y+16), gocv.FontHersheySimplex, 0.5, color.RGBA{20, 20, 20, 255}, 1)
		files, _ := filepath.Glob(filepath.Join(datasetDir, c, "*"))
		sort.Strings(files)
		n := 0
		for _, f := range files {
			if n == perClass {
				break
			}
			m, err := opencv.ReadImageFile(f, opencv.Limits{})
			if err != nil {
				continue
			}
			x := gap + n*(thumbW+gap)
			dst := sheet.Region(image.Rect(x, y+label, x+thumbW, y+label+thumbH))
			gocv.Resize(m, &dst, image.Pt(thumbW, thumbH), 0, 0, gocv.InterpolationArea)
			dst.Close()
			m.Close()
			n++
		}
	}
	data, err := opencv.EncodePNG(sheet)
	if err != nil {
		return err
	}
	return writeAtomic(out, data)
}
