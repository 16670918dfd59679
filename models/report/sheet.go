package report

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // dataset images
	"image/png"
	"os"
	"path/filepath"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/pruefplatz/pruefplatz/models/quality"
)

// ContactSheet draws up to perClass training images of each class of the
// manifest (in manifest order), thumbW pixels wide, one labelled row per
// class, and returns the PNG. Unreadable images are left out; it returns an
// error when no image at all could be read.
func ContactSheet(root string, images []quality.Image, perClass, thumbW int) ([]byte, error) {
	var classes []string
	byClass := map[string][]string{}
	for _, im := range images {
		if im.Split != "train" {
			continue
		}
		if _, ok := byClass[im.Class]; !ok {
			classes = append(classes, im.Class)
		}
		if len(byClass[im.Class]) < perClass {
			byClass[im.Class] = append(byClass[im.Class], im.Path)
		}
	}
	thumbH := thumbW * 3 / 4
	const label, gap = 16, 4
	sheet := image.NewRGBA(image.Rect(0, 0, perClass*(thumbW+gap)+gap, len(classes)*(thumbH+label+gap)+gap))
	draw.Draw(sheet, sheet.Bounds(), image.White, image.Point{}, draw.Src)
	d := &font.Drawer{Dst: sheet, Src: image.NewUniform(color.RGBA{20, 20, 20, 255}), Face: basicfont.Face7x13}
	drawn := 0
	for row, c := range classes {
		y := gap + row*(thumbH+label+gap)
		d.Dot = fixed.P(gap, y+12)
		d.DrawString(c)
		for n, p := range byClass[c] {
			img, err := decode(filepath.Join(root, filepath.FromSlash(p)))
			if err != nil {
				continue
			}
			x := gap + n*(thumbW+gap)
			draw.ApproxBiLinear.Scale(sheet, image.Rect(x, y+label, x+thumbW, y+label+thumbH), img, img.Bounds(), draw.Src, nil)
			drawn++
		}
	}
	if drawn == 0 {
		return nil, fmt.Errorf("report: contact sheet: no readable training image under %s", root)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, sheet); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decode(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	return img, err
}

// FindContactSheet returns a contact sheet for c and where it came from:
// drawn from the first of dataDirs that holds the version's manifest
// images (versionDir/manifest.json), else read from the first of files
// that exists. It returns nil and "" when neither works.
func FindContactSheet(versionDir string, dataDirs, files []string) ([]byte, string) {
	if images, err := quality.ReadManifest(filepath.Join(versionDir, "manifest.json")); err == nil {
		for _, d := range dataDirs {
			if d == "" {
				continue
			}
			if st, err := os.Stat(d); err != nil || !st.IsDir() {
				continue
			}
			if png, err := ContactSheet(d, images, 6, 120); err == nil {
				return png, d
			}
		}
	}
	for _, p := range files {
		if p == "" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			return b, p
		}
	}
	return nil, ""
}
