package stationui

import (
	"encoding/json"
	"image/color"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/opencv"
)

// FuzzClassifyUpload sends arbitrary bytes through POST /api/classify to a
// station that decodes them with the real opencv.DecodeImage. Whatever the
// bytes, the answer is 200, 400 or 413 with a JSON body — never a 500 or a
// crash.
func FuzzClassifyUpload(f *testing.F) {
	good := testJPEG(24, 16, color.RGBA{90, 90, 200, 255})
	f.Add(good, false)
	f.Add(good[:len(good)/3], false)
	f.Add(smallPNG(), true)
	f.Add(hugePNG(50000, 50000), false)
	f.Add(hugePNG(1, 1), false)
	f.Add([]byte{}, true)
	f.Add([]byte("GIF89a\x01\x00\x01\x00"), false)
	f.Add([]byte("BM\x00\x00"), false)

	fx := newFixture(f, func(c *Config) { c.MaxUpload = 256 << 10 })
	fx.st.decode = func(b []byte) error {
		m, err := opencv.DecodeImage(b, opencv.Limits{MaxBytes: 256 << 10, MaxPixels: 4_000_000})
		if err != nil {
			return err
		}
		return m.Close()
	}
	f.Fuzz(func(t *testing.T, data []byte, multipart bool) {
		body, ctype := data, "application/octet-stream"
		if multipart {
			body, ctype = multipartBody(t, "image", data)
		}
		rec := fx.do("POST", "/api/classify", ctype, body)
		switch rec.Code {
		case 200:
			var v struct {
				Outcome string `json:"outcome"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Outcome == "" {
				t.Fatalf("200 without a verdict: %.200s", rec.Body.String())
			}
		case 400, 413:
			var e struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%d without an error message: %.200s", rec.Code, rec.Body.String())
			}
		default:
			t.Fatalf("status %d for %d bytes: %.200s", rec.Code, len(data), rec.Body.String())
		}
	})
}
