package stationui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue/catalogtest"
)

// withCatalogue gives the fixture a catalogue in a bbolt file with parts
// P-1 … P-n (three photos each), embedded by the colour-layout test embedder.
func withCatalogue(t testing.TB, n int) (func(*Config), *bolt.Catalogue) {
	t.Helper()
	st, err := bolt.OpenCatalogue(filepath.Join(t.TempDir(), "catalogue.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("catalogue inconsistent: %v", err)
		}
		st.Close()
	})
	svc, err := catalogue.NewService(st, &catalogtest.Embedder{}, catalogue.Options{Floor: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		var ph [][]byte
		for j := range 3 {
			ph = append(ph, catalogtest.Photo(uint64(i), j, 0.1))
		}
		p := catalogue.Part{Number: fmt.Sprintf("P-%d", i), Name: fmt.Sprintf("Part %d", i), Active: true}
		if i == 1 {
			p.Attributes = map[string]string{catalogue.MirrorAttr: "P-2"}
		}
		if err := svc.AddPart(context.Background(), p, ph, 3, 10, "import"); err != nil {
			t.Fatal(err)
		}
	}
	return func(c *Config) { c.Catalogue = svc }, st
}

// partForm builds an add-part request.
func partForm(t testing.TB, number, name string, photos ...[]byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("number", number)
	w.WriteField("name", name)
	for i, p := range photos {
		fw, _ := w.CreateFormFile("photo", fmt.Sprintf("p%d.jpg", i))
		fw.Write(p)
	}
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

func TestCatalogueAddPartBadInput(t *testing.T) {
	mod, st := withCatalogue(t, 3)
	f := newFixture(t, mod) // MaxUpload 1 MiB per photo
	ph := func(seed uint64) [][]byte {
		return [][]byte{catalogtest.Photo(seed, 0, 0.1), catalogtest.Photo(seed, 1, 0.1), catalogtest.Photo(seed, 2, 0.1)}
	}
	trunc := catalogtest.Photo(40, 9, 0.1)
	trunc = trunc[:len(trunc)*2/3]
	big := append(catalogtest.Photo(41, 0, 0.1), make([]byte, 50<<20)...) // a 50 MB upload
	for _, tc := range []struct {
		name   string
		number string
		label  string
		photos [][]byte
		want   int
		msg    string
	}{
		{"duplicate part number", "P-1", "again", ph(20), http.StatusConflict, "already in the catalogue"},
		{"empty name", "N-1", " ", ph(21), http.StatusBadRequest, "empty name"},
		{"not an image", "N-2", "x", append(ph(22)[:2], []byte("GIF? no")), http.StatusBadRequest, "photo 3"},
		{"truncated photo", "N-3", "x", append(ph(23)[:2], trunc), http.StatusBadRequest, "photo 3"},
		{"50 MB upload", "N-4", "x", append(ph(24)[:2], big), http.StatusRequestEntityTooLarge, "exceeds"},
		{"same photo twice", "N-5", "x", append(ph(25)[:2], ph(25)[0]), http.StatusConflict, "same picture"},
		{"photo already a reference", "N-6", "x", append(ph(26)[:2], catalogtest.Photo(2, 1, 0.1)), http.StatusConflict, "part P-2"},
		{"two photos", "N-7", "x", ph(27)[:2], http.StatusBadRequest, "3 to 10 photos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, body := partForm(t, tc.number, tc.label, tc.photos...)
			rec := f.do("POST", "/api/catalogue/parts", ct, body)
			if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.msg) {
				t.Fatalf("%d %s, want %d with %q", rec.Code, rec.Body.String(), tc.want, tc.msg)
			}
			parts, _ := st.Parts()
			if len(parts) != 3 {
				t.Fatalf("%d parts after a refused add, want 3", len(parts))
			}
			for _, p := range parts {
				if _, photos, _ := st.Part(p.Number); len(photos) != 3 {
					t.Fatalf("%s has %d photos", p.Number, len(photos))
				}
			}
		})
	}
	ct, body := partForm(t, "N-9", "New part", ph(30)...)
	if rec := f.do("POST", "/api/catalogue/parts", ct, body); rec.Code != http.StatusCreated {
		t.Fatalf("good part: %d %s", rec.Code, rec.Body.String())
	}
	if rec := f.do("POST", "/api/catalogue/search", "image/jpeg", catalogtest.Photo(30, 7, 0.1)); !strings.Contains(rec.Body.String(), `"part":"N-9"`) {
		t.Errorf("new part not found at once: %s", rec.Body.String())
	}
	if rec := f.do("POST", "/api/catalogue/search", "image/jpeg", trunc); rec.Code != http.StatusBadRequest {
		t.Errorf("truncated search photo: %d %s", rec.Code, rec.Body.String())
	}
}

func TestCatalogueSearchConfirmAccept(t *testing.T) {
	mod, st := withCatalogue(t, 5)
	f := newFixture(t, mod)
	rec := f.do("POST", "/api/catalogue/search", "image/jpeg", catalogtest.Photo(3, 20, 0.1))
	var m catalogue.Match
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
		t.Fatalf("search: %d %s", rec.Code, rec.Body.String())
	}
	if m.Answer.Results[0].Part != "P-3" || m.Answer.NotInCatalogue || m.By != "Anna" {
		t.Fatalf("match %+v", m)
	}
	if rec := f.do("GET", "/api/catalogue/photos/"+m.Answer.Results[0].Photo, "", nil); rec.Code != 200 || rec.Header().Get("Content-Type") != "image/jpeg" {
		t.Errorf("best reference photo: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	// The client cannot choose who confirmed: the body has only the part.
	rec = f.do("POST", "/api/catalogue/matches/"+m.ID+"/confirm", "application/json", []byte(`{"part":"P-3","by":"Mallory"}`))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"by":"Anna"`) {
		t.Fatalf("confirm: %d %s", rec.Code, rec.Body.String())
	}
	if rec := f.do("POST", "/api/catalogue/matches/nope/confirm", "application/json", []byte(`{"part":""}`)); rec.Code != http.StatusNotFound {
		t.Errorf("unknown match: %d", rec.Code)
	}
	rec = f.do("POST", "/api/catalogue/matches/"+m.ID+"/accept", "", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"accepted_by":"Anna"`) {
		t.Fatalf("accept: %d %s", rec.Code, rec.Body.String())
	}
	if _, ph, _ := st.Part("P-3"); len(ph) != 4 {
		t.Errorf("P-3 has %d photos after accept, want 4", len(ph))
	}
	if rec := f.do("POST", "/api/catalogue/matches/"+m.ID+"/accept", "", nil); rec.Code != http.StatusConflict {
		t.Errorf("second accept: %d %s", rec.Code, rec.Body.String())
	}
	// Unknown part: "not in the catalogue", recorded as none of these.
	rec = f.do("POST", "/api/catalogue/search", "image/jpeg", catalogtest.Photo(99, 0, 0.1))
	json.Unmarshal(rec.Body.Bytes(), &m)
	if !m.Answer.NotInCatalogue {
		t.Errorf("unknown part answered %+v", m.Answer.Results[0])
	}
	rec = f.do("POST", "/api/catalogue/matches/"+m.ID+"/confirm", "application/json", []byte(`{"part":""}`))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"confirmed":true`) {
		t.Errorf("none of these: %d %s", rec.Code, rec.Body.String())
	}
	rec = f.do("GET", "/api/catalogue", "", nil)
	if !strings.Contains(rec.Body.String(), `"parts":5`) || !strings.Contains(rec.Body.String(), `"threshold"`) {
		t.Errorf("status: %s", rec.Body.String())
	}
}
