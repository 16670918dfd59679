package opencv

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // header checks in DecodeImage
	_ "image/png"
	"io"
	"os"

	"github.com/pruefplatz/pruefplatz/inspector"
	"gocv.io/x/gocv"
	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"
)

var colorBlack = color.RGBA{A: 255}

// Limits bound what DecodeImage accepts. Zero fields take the defaults.
type Limits struct {
	MaxBytes  int64 // default 32 MiB
	MaxPixels int64 // width×height, default 40 megapixels
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 32 << 20
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = 40_000_000
	}
	return l
}

// DecodeImage decodes a JPEG, PNG, BMP or WebP into a 3-channel BGR Mat,
// which the caller must Close. The header's claimed dimensions are checked
// before the full decode, so a small file claiming a huge image is refused
// without allocating it. Errors wrap inspector.ErrBadImage (empty, truncated,
// corrupt or not an image) or inspector.ErrImageTooLarge.
func DecodeImage(data []byte, lim Limits) (gocv.Mat, error) {
	lim = lim.withDefaults()
	if len(data) == 0 {
		return gocv.NewMat(), fmt.Errorf("%w: empty file", inspector.ErrBadImage)
	}
	if int64(len(data)) > lim.MaxBytes {
		return gocv.NewMat(), fmt.Errorf("%w: %d bytes (limit %d)", inspector.ErrImageTooLarge, len(data), lim.MaxBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return gocv.NewMat(), fmt.Errorf("%w: %v", inspector.ErrBadImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return gocv.NewMat(), fmt.Errorf("%w: %s header claims %dx%d", inspector.ErrBadImage, format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > lim.MaxPixels {
		return gocv.NewMat(), fmt.Errorf("%w: %dx%d pixels (limit %d)", inspector.ErrImageTooLarge, cfg.Width, cfg.Height, lim.MaxPixels)
	}
	// OpenCV decodes a cut-off JPEG without an error, filling the missing
	// rows with grey: a plausible-looking image that is not the part.
	if err := inspector.CheckComplete(format, data); err != nil {
		return gocv.NewMat(), fmt.Errorf("%w: %s %v", inspector.ErrBadImage, format, err)
	}
	m, err := imDecode(data)
	if err != nil || m.Empty() {
		m.Close()
		return gocv.NewMat(), fmt.Errorf("%w: %s data is corrupt or truncated", inspector.ErrBadImage, format)
	}
	if m.Cols() != cfg.Width || m.Rows() != cfg.Height {
		// OpenCV rotated it by its EXIF orientation; that is fine.
		if m.Cols() != cfg.Height || m.Rows() != cfg.Width {
			m.Close()
			return gocv.NewMat(), fmt.Errorf("%w: decoded size differs from header", inspector.ErrBadImage)
		}
	}
	return m, nil
}

// imDecode turns a panic in the cgo decoder into an error.
func imDecode(data []byte) (m gocv.Mat, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = gocv.NewMat(), fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return gocv.IMDecode(data, gocv.IMReadColor)
}

// ReadImageFile reads and decodes an image file like DecodeImage; a file
// larger than the byte limit is refused without reading it whole.
func ReadImageFile(path string, lim Limits) (gocv.Mat, error) {
	lim = lim.withDefaults()
	f, err := os.Open(path)
	if err != nil {
		return gocv.NewMat(), err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, lim.MaxBytes+1))
	if err != nil {
		return gocv.NewMat(), fmt.Errorf("%s: %w", path, err)
	}
	m, err := DecodeImage(data, lim)
	if err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// EncodeJPEG encodes m at the given quality (1–100) into Go-owned bytes.
func EncodeJPEG(m gocv.Mat, quality int) ([]byte, error) {
	if m.Empty() {
		return nil, fmt.Errorf("encode jpeg: empty image")
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return nil, fmt.Errorf("encode jpeg: %w", err)
	}
	defer buf.Close()
	// The buffer points into C memory that Close frees.
	return bytes.Clone(buf.GetBytes()), nil
}

// EncodePNG encodes m losslessly into Go-owned bytes.
func EncodePNG(m gocv.Mat) ([]byte, error) {
	if m.Empty() {
		return nil, fmt.Errorf("encode png: empty image")
	}
	buf, err := gocv.IMEncode(gocv.PNGFileExt, m)
	if err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	defer buf.Close()
	return bytes.Clone(buf.GetBytes()), nil
}

// Thumbnail returns a JPEG of m scaled so its longer side is maxSide pixels
// (never enlarged), shrunk with Shrink.
func Thumbnail(m gocv.Mat, maxSide, quality int) ([]byte, error) {
	if m.Empty() {
		return nil, fmt.Errorf("thumbnail: empty image")
	}
	w, h := m.Cols(), m.Rows()
	if w <= maxSide && h <= maxSide {
		return EncodeJPEG(m, quality)
	}
	tw, th := fitInside(w, h, maxSide, maxSide)
	small := gocv.NewMat()
	defer small.Close()
	Shrink(m, &small, tw, th)
	return EncodeJPEG(small, quality)
}

// DrawOverlay draws the ROI (if any) and a label in a filled box at the top
// left, large enough to read on a small screen from a distance.
func DrawOverlay(m *gocv.Mat, roi *inspector.Rect, text string, c color.RGBA) {
	if m.Empty() {
		return
	}
	thick := max(2, m.Cols()/320)
	if roi != nil && !roi.Empty() {
		gocv.Rectangle(m, image.Rect(roi.X, roi.Y, roi.X+roi.W, roi.Y+roi.H), c, thick)
	}
	if text == "" {
		return
	}
	scale := float64(m.Cols()) / 640
	sz, base := gocv.GetTextSizeWithBaseline(text, gocv.FontHersheySimplex, scale, thick)
	pad := int(8 * scale)
	gocv.Rectangle(m, image.Rect(0, 0, sz.X+2*pad, sz.Y+base+2*pad), c, -1)
	gocv.PutText(m, text, image.Pt(pad, pad+sz.Y), gocv.FontHersheySimplex, scale, color.RGBA{255, 255, 255, 255}, thick)
}
