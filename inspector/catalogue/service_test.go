package catalogue_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue/catalogtest"
)

func openStore(t *testing.T, path string) *bolt.Catalogue {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "catalogue.db")
	}
	st, err := bolt.OpenCatalogue(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("catalogue inconsistent: %v", err)
		}
		st.Close()
	})
	return st
}

func photos(part uint64, n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, catalogtest.Photo(part, i, 0.1))
	}
	return out
}

// newService returns a service over a fresh store with parts 1..n (P-1 …),
// three photos each.
func newService(t *testing.T, n int) (*catalogue.Service, *bolt.Catalogue) {
	t.Helper()
	st := openStore(t, "")
	svc, err := catalogue.NewService(st, &catalogtest.Embedder{}, catalogue.Options{Floor: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		p := catalogue.Part{Number: "P-" + string(rune('0'+i)), Name: "part " + string(rune('0'+i)), Active: true}
		if err := svc.AddPart(context.Background(), p, photos(uint64(i), 3), 3, 10, "upload"); err != nil {
			t.Fatal(err)
		}
	}
	return svc, st
}

func TestSearchFindsPartAndRejectsUnknown(t *testing.T) {
	svc, _ := newService(t, 6)
	ctx := context.Background()
	a, _, err := svc.Search(ctx, catalogtest.Photo(4, 50, 0.1))
	if err != nil {
		t.Fatal(err)
	}
	if a.Results[0].Part != "P-4" || a.NotInCatalogue {
		t.Fatalf("answer %+v, want P-4 accepted", a)
	}
	if a.Results[0].Name != "part 4" || a.Results[0].Photo == "" || len(a.Results) != 5 {
		t.Errorf("result lacks name or photo, or not 5 results: %+v", a.Results)
	}
	unknown, _, err := svc.Search(ctx, catalogtest.Photo(77, 0, 0.1))
	if err != nil {
		t.Fatal(err)
	}
	if !unknown.NotInCatalogue {
		t.Errorf("a part not in the catalogue was answered %s (%.3f, threshold %.3f)", unknown.Results[0].Part, unknown.Results[0].Score, unknown.Threshold)
	}
	st := svc.Status()
	if st.Parts != 6 || st.Photos != 18 || st.Calibration.Known != 18 {
		t.Errorf("status %+v", st)
	}
}

func TestAddPartBadInput(t *testing.T) {
	svc, st := newService(t, 2)
	ctx := context.Background()
	truncated := catalogtest.Photo(9, 0, 0.1)
	truncated = truncated[:len(truncated)/2]
	for _, tc := range []struct {
		name   string
		part   catalogue.Part
		photos [][]byte
		want   error
	}{
		{"duplicate number", catalogue.Part{Number: "P-1", Name: "again"}, photos(11, 3), catalogue.ErrExists},
		{"empty name", catalogue.Part{Number: "N-1", Name: "  "}, photos(12, 3), catalogue.ErrInvalid},
		{"bad number", catalogue.Part{Number: "a/b", Name: "x"}, photos(13, 3), catalogue.ErrInvalid},
		{"too few photos", catalogue.Part{Number: "N-2", Name: "x"}, photos(14, 2), catalogue.ErrInvalid},
		{"too many photos", catalogue.Part{Number: "N-3", Name: "x"}, photos(15, 11), catalogue.ErrInvalid},
		{"not an image", catalogue.Part{Number: "N-4", Name: "x"}, append(photos(16, 2), []byte("hello")), inspector.ErrBadImage},
		{"truncated photo", catalogue.Part{Number: "N-5", Name: "x"}, append(photos(17, 2), truncated), inspector.ErrBadImage},
		{"same photo twice", catalogue.Part{Number: "N-6", Name: "x"}, append(photos(18, 2), catalogtest.Photo(18, 0, 0.1)), catalogue.ErrDuplicatePhoto},
		{"photo of another part", catalogue.Part{Number: "N-7", Name: "x"}, append(photos(19, 2), catalogtest.Photo(1, 0, 0.1)), catalogue.ErrDuplicatePhoto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := svc.AddPart(ctx, tc.part, tc.photos, 3, 10, "upload")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			parts, _ := st.Parts()
			if len(parts) != 2 {
				t.Fatalf("%d parts after a refused add, want 2", len(parts))
			}
			if _, ph, _ := st.Part("P-1"); len(ph) != 3 {
				t.Fatalf("P-1 has %d photos, want 3", len(ph))
			}
		})
	}
	var bad *catalogue.BadImageError
	err := svc.AddPart(ctx, catalogue.Part{Number: "N-8", Name: "x"}, append(photos(20, 3), []byte("x")), 3, 10, "upload")
	if !errors.As(err, &bad) || bad.Index != 3 || !strings.Contains(err.Error(), "photo 4") {
		t.Errorf("bad image error %v does not name photo 4", err)
	}
}

func TestMirrorTwins(t *testing.T) {
	st := openStore(t, "")
	svc, err := catalogue.NewService(st, &catalogtest.Embedder{}, catalogue.Options{Floor: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Two "parts" that look alike (one layout, different noise) but are left and right.
	add := func(num, twin string, seed uint64, first int) {
		var ph [][]byte
		for i := range 3 {
			ph = append(ph, catalogtest.Photo(seed, first+i, 0.3))
		}
		p := catalogue.Part{Number: num, Name: num, Attributes: map[string]string{catalogue.MirrorAttr: twin}, Active: true}
		if err := svc.AddPart(ctx, p, ph, 3, 10, "upload"); err != nil {
			t.Fatal(err)
		}
	}
	add("L-1", "R-1", 5, 0)
	add("R-1", "L-1", 5, 10)
	if err := svc.AddPart(ctx, catalogue.Part{Number: "Q-1", Name: "other", Active: true}, photos(6, 3), 3, 10, "upload"); err != nil {
		t.Fatal(err)
	}
	a, _, err := svc.Search(ctx, catalogtest.Photo(5, 40, 0.3))
	if err != nil {
		t.Fatal(err)
	}
	if !a.MirrorTwins {
		t.Errorf("top two %v are mirror twins, not flagged", a.Results[:2])
	}
	b, _, _ := svc.Search(ctx, catalogtest.Photo(6, 40, 0.1))
	if b.MirrorTwins {
		t.Errorf("Q-1 first, flagged as mirror twin: %+v", b.Results)
	}
}

func TestConfirmAcceptAddsReference(t *testing.T) {
	svc, st := newService(t, 4)
	ctx := context.Background()
	m, err := svc.SearchAndRecord(ctx, catalogtest.Photo(2, 60, 0.1), "sam")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Accept(ctx, m.ID, "eve"); !errors.Is(err, catalogue.ErrInvalid) {
		t.Fatalf("accepting an unconfirmed match: %v", err)
	}
	if _, err := svc.Confirm(m.ID, "NOPE", "sam"); !errors.Is(err, catalogue.ErrNotFound) {
		t.Fatalf("confirming an unknown part: %v", err)
	}
	c, err := svc.Confirm(m.ID, "P-2", "sam")
	if err != nil || !c.Confirmed || c.Chosen != "P-2" || c.By != "sam" || c.Answer.Results[0].Part != "P-2" {
		t.Fatalf("confirm: %+v, %v", c, err)
	}
	a, err := svc.Accept(ctx, m.ID, "eve")
	if err != nil || a.AcceptedBy != "eve" {
		t.Fatalf("accept: %+v %v", a, err)
	}
	_, ph, _ := st.Part("P-2")
	if len(ph) != 4 || ph[0].Origin != "match:"+m.ID && ph[3].Origin != "match:"+m.ID && ph[1].Origin != "match:"+m.ID && ph[2].Origin != "match:"+m.ID {
		t.Fatalf("P-2 photos after accept: %+v", ph)
	}
	if svc.Status().Photos != 13 {
		t.Errorf("index has %d photos, want 13 (counts from the next search)", svc.Status().Photos)
	}
	if _, err := svc.Accept(ctx, m.ID, "eve"); !errors.Is(err, catalogue.ErrDuplicatePhoto) {
		t.Errorf("second accept: %v", err)
	}
	ms, _ := svc.Matches(10)
	if len(ms) != 1 || ms[0].AcceptedBy != "eve" {
		t.Errorf("matches %+v", ms)
	}
}

// TestReembedOnBackboneChange reopens a catalogue with another backbone:
// the index starts empty, and the background run embeds every photo.
func TestReembedOnBackboneChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	st, err := bolt.OpenCatalogue(path)
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := catalogue.NewService(st, &catalogtest.Embedder{}, catalogue.Options{})
	for i := 1; i <= 3; i++ {
		if err := svc.AddPart(context.Background(), catalogue.Part{Number: "P-" + string(rune('0'+i)), Name: "p", Active: true}, photos(uint64(i), 3), 3, 10, "import"); err != nil {
			t.Fatal(err)
		}
	}
	e2 := &catalogtest.Embedder{SHA: "new-backbone"}
	svc2, err := catalogue.NewService(st, e2, catalogue.Options{ReembedBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s := svc2.Status(); s.Photos != 0 || s.Pending != 9 {
		t.Fatalf("before re-embedding: %+v", s)
	}
	svc2.Start(context.Background())
	svc2.Wait()
	svc2.Close()
	if s := svc2.Status(); s.Photos != 9 || s.Reembedding || s.ReembedDone != 9 || e2.Calls.Load() != 9 {
		t.Fatalf("after re-embedding: %+v, %d embedded", s, e2.Calls.Load())
	}
	st.Close()
}

func TestImportDir(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, b []byte) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, num := range []string{"A-1", "A-2", "A-3"} {
		for j := range 3 {
			write(filepath.Join("ref", num, string(rune('a'+j))+".jpg"), catalogtest.Photo(uint64(i+1), j, 0.1))
		}
	}
	write("ref/A-2/broken.jpg", []byte("not a jpeg"))
	write("ref/A-3/notes.txt", []byte("ignored"))
	write("ref/UNLISTED/a.jpg", catalogtest.Photo(50, 0, 0.1))
	csv := "part_number,name,description,attributes\n" +
		"A-1,Bracket one,desc,material=steel;mirror_of=A-2\n" +
		"A-2,Bracket two,,\n" +
		"A-3,Bolt,,\n" +
		"A-4,No photos,,\n" +
		"bad/num,Bad,,\n" +
		"A-5,,,\n" +
		"A-1,Twice,,\n" +
		"\"broken,quote\n"
	parts, problems, err := catalogue.ParsePartsCSV(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 4 || parts["A-1"].Attributes["material"] != "steel" || parts["A-1"].MirrorTwin() != "A-2" {
		t.Fatalf("parts %+v", parts)
	}
	if len(problems) != 4 {
		t.Errorf("problems %q, want 4 (bad number, empty name, twice, broken quote)", problems)
	}
	st := openStore(t, "")
	svc, err := catalogue.NewService(st, &catalogtest.Embedder{}, catalogue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := svc.ImportDir(context.Background(), filepath.Join(dir, "ref"), parts, "importer", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Parts != 3 || rep.Photos != 9 {
		t.Errorf("imported %d parts, %d photos; want 3, 9", rep.Parts, rep.Photos)
	}
	all := strings.Join(rep.Problems, "\n")
	for _, want := range []string{"broken.jpg", "UNLISTED: unknown part number", "A-4: in the parts list but has no photo folder"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not name %q:\n%s", want, all)
		}
	}
	p, ph, err := st.Part("A-1")
	if err != nil || p.Name != "Bracket one" || p.AddedBy != "importer" || len(ph) != 3 {
		t.Errorf("A-1: %+v %d photos %v", p, len(ph), err)
	}
	// A second import skips what is there.
	rep, err = svc.ImportDir(context.Background(), filepath.Join(dir, "ref"), parts, "importer", nil)
	if err != nil || rep.Parts != 0 || !strings.Contains(strings.Join(rep.Problems, "\n"), "A-1: already in the catalogue") {
		t.Errorf("second import: %+v %v", rep, err)
	}
}
