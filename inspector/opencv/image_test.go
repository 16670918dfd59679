package opencv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
	"gocv.io/x/gocv"
	"golang.org/x/image/bmp"
)

func pngBytes(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 4), 100, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hugePNGHeader is a valid PNG signature and IHDR claiming w×h pixels, with no data.
func hugePNGHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestDecodeImage(t *testing.T) {
	good := jpegBytes(t, 40, 30)
	// A camera JPEG (EXIF, restart-free baseline) from the backbone's check photos.
	photo, err := os.ReadFile("../../models/backbones/mobilenet-v2/testdata/hot_dog.jpg")
	if err != nil {
		t.Fatal(err)
	}
	big := jpegBytes(t, 320, 240)
	cases := []struct {
		name string
		data []byte
		lim  Limits
		want error
	}{
		{"jpeg", good, Limits{}, nil},
		{"png rgba", pngBytes(t, 7, 5), Limits{}, nil},
		{"png grey", func() []byte {
			var b bytes.Buffer
			if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 6, 4))); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}(), Limits{}, nil},
		{"bmp", func() []byte {
			var b bytes.Buffer
			if err := bmp.Encode(&b, image.NewRGBA(image.Rect(0, 0, 6, 4))); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}(), Limits{}, nil},
		{"zero bytes", nil, Limits{}, inspector.ErrBadImage},
		{"text", []byte("hello, this is not an image"), Limits{}, inspector.ErrBadImage},
		{"truncated jpeg", good[:len(good)/3], Limits{}, inspector.ErrBadImage},
		// OpenCV decodes these with grey fill and no error.
		{"jpeg cut after 700 bytes", big[:700], Limits{}, inspector.ErrBadImage},
		{"jpeg missing its last bytes", big[:len(big)-2], Limits{}, inspector.ErrBadImage},
		{"camera jpeg", photo, Limits{}, nil},
		{"camera jpeg cut after 700 bytes", photo[:700], Limits{}, inspector.ErrBadImage},
		{"camera jpeg cut near the end", photo[:len(photo)-300], Limits{}, inspector.ErrBadImage},
		{"jpeg with bytes after the end marker", append(bytes.Clone(big), "trailer"...), Limits{}, nil},
		{"corrupt png body", func() []byte {
			b := pngBytes(t, 30, 30)
			c := bytes.Clone(b)
			copy(c[60:], bytes.Repeat([]byte{0xff}, 40))
			return c
		}(), Limits{}, inspector.ErrBadImage},
		{"huge claimed dimensions", hugePNGHeader(100000, 100000), Limits{}, inspector.ErrImageTooLarge},
		{"over pixel limit", good, Limits{MaxPixels: 100}, inspector.ErrImageTooLarge},
		{"over byte limit", good, Limits{MaxBytes: 10}, inspector.ErrImageTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := DecodeImage(c.data, c.lim)
			t.Cleanup(func() { m.Close() })
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if m.Type() != gocv.MatTypeCV8UC3 || m.Empty() {
					t.Errorf("got type %v empty=%v, want non-empty BGR", m.Type(), m.Empty())
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestEncodeAndThumbnail(t *testing.T) {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 128, 255, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer m.Close()
	th, err := Thumbnail(m, 160, 80)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(th))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 160 || cfg.Height != 120 {
		t.Errorf("thumbnail %dx%d, want 160x120", cfg.Width, cfg.Height)
	}
	full, err := EncodeJPEG(m, 90)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeImage(full, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if back.Cols() != 640 || back.Rows() != 480 {
		t.Errorf("round trip %dx%d", back.Cols(), back.Rows())
	}
	v := back.GetVecbAt(10, 10)
	if d := int(v[2]) - 255; d < -3 {
		t.Errorf("red channel %d after round trip", v[2])
	}
}

// texture is a w×h BGR test card: gradients, stripes of period 7 and a
// little seeded noise, so shrinking methods that differ in how they average
// show it.
func texture(t testing.TB, w, h int) gocv.Mat {
	t.Helper()
	buf := make([]byte, 0, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			stripe := byte(0)
			if (x+y)%7 < 3 {
				stripe = 60
			}
			n := byte((x*7919 + y*104729) % 17)
			buf = append(buf, byte(x*255/w)/2+stripe+n, byte(y*255/h)/2+stripe, 128+n)
		}
	}
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, buf)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestShrinkMatchesAreaResize(t *testing.T) {
	cases := []struct {
		name       string
		w, h       int // source
		tw, th     int // target
		maxMeanAbs float64
	}{
		{"640x480 to thumbnail", 640, 480, 200, 150, 3},
		// The dropped last column and row shift the sampling by up to a
		// source pixel, which the test card's sharp stripes show.
		{"odd source", 641, 481, 160, 120, 5},
		{"exact halving", 400, 300, 200, 150, 0.5},
		{"less than half", 300, 200, 200, 133, 3},
		{"same size", 64, 48, 64, 48, 0},
		{"to one pixel", 33, 17, 1, 1, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := texture(t, c.w, c.h)
			defer src.Close()
			got, want := gocv.NewMat(), gocv.NewMat()
			defer got.Close()
			defer want.Close()
			Shrink(src, &got, c.tw, c.th)
			if got.Cols() != c.tw || got.Rows() != c.th || got.Type() != gocv.MatTypeCV8UC3 {
				t.Fatalf("got %dx%d %v, want %dx%d CV8UC3", got.Cols(), got.Rows(), got.Type(), c.tw, c.th)
			}
			gocv.Resize(src, &want, image.Pt(c.tw, c.th), 0, 0, gocv.InterpolationArea)
			a, _ := got.DataPtrUint8()
			b, _ := want.DataPtrUint8()
			sum := 0
			for i := range a {
				sum += max(int(a[i])-int(b[i]), int(b[i])-int(a[i]))
			}
			if mean := float64(sum) / float64(len(a)); mean > c.maxMeanAbs {
				t.Errorf("mean absolute difference to INTER_AREA %.2f levels, want ≤ %.1f", mean, c.maxMeanAbs)
			}
		})
	}
}

// BenchmarkThumbnail times the 200×150 thumbnail of a 640×480 frame
// (resize and JPEG at quality 80), with the plain INTER_AREA resize it
// replaced for comparison.
func BenchmarkThumbnail(b *testing.B) {
	src := texture(b, 640, 480)
	defer src.Close()
	b.Run("shrink", func(b *testing.B) {
		dst := gocv.NewMat()
		defer dst.Close()
		for range b.N {
			Shrink(src, &dst, 200, 150)
		}
	})
	b.Run("inter-area", func(b *testing.B) {
		dst := gocv.NewMat()
		defer dst.Close()
		for range b.N {
			gocv.Resize(src, &dst, image.Pt(200, 150), 0, 0, gocv.InterpolationArea)
		}
	})
	b.Run("thumbnail-jpeg", func(b *testing.B) {
		for range b.N {
			if _, err := Thumbnail(src, 200, 80); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func FuzzDecodeImage(f *testing.F) {
	f.Add(jpegBytes(f, 16, 16))
	f.Add(pngBytes(f, 5, 3))
	f.Add(jpegBytes(f, 16, 16)[:100])
	f.Add(hugePNGHeader(70000, 70000))
	f.Add([]byte("GIF89a"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		before, counting := matCount()
		m, err := DecodeImage(data, Limits{MaxPixels: 4_000_000})
		defer func() {
			m.Close()
			// Under -tags matprofile: the returned Mat is the only one left.
			if after, _ := matCount(); counting && after != before {
				t.Errorf("Mat leak: %d live Mats before, %d after closing the result", before, after)
			}
		}()
		if err != nil {
			if !errors.Is(err, inspector.ErrBadImage) && !errors.Is(err, inspector.ErrImageTooLarge) {
				t.Fatalf("error not classified: %v", err)
			}
			return
		}
		if m.Empty() || m.Type() != gocv.MatTypeCV8UC3 {
			t.Fatalf("no error but Mat empty=%v type=%v", m.Empty(), m.Type())
		}
	})
}

func TestDrawOverlay(t *testing.T) {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer m.Close()
	red := color.RGBA{R: 220, G: 10, B: 20, A: 255}
	DrawOverlay(&m, &inspector.Rect{X: 300, Y: 200, W: 200, H: 150}, "DEFECT 0.93", red)
	bgrIs := func(y, x int, b, g, r uint8) bool {
		v := m.GetVecbAt(y, x)
		return v[0] == b && v[1] == g && v[2] == r
	}
	if !bgrIs(200, 400, 20, 10, 220) || !bgrIs(275, 300, 20, 10, 220) {
		t.Error("ROI edge not drawn in the colour (BGR order)")
	}
	if !bgrIs(275, 400, 0, 0, 0) {
		t.Error("ROI inside was painted")
	}
	if !bgrIs(2, 2, 20, 10, 220) {
		t.Error("label box missing at the top left")
	}
	// The label text is white on the box.
	white := 0
	for y := 0; y < 60; y++ {
		for x := 0; x < 300; x++ {
			if bgrIs(y, x, 255, 255, 255) {
				white++
			}
		}
	}
	if white < 100 {
		t.Errorf("%d white text pixels in the label, want a readable label", white)
	}
	if !bgrIs(470, 10, 0, 0, 0) {
		t.Error("overlay drew outside the ROI and the label")
	}
	// Nothing to draw on: no panic.
	empty := gocv.NewMat()
	defer empty.Close()
	DrawOverlay(&empty, nil, "x", red)
}
