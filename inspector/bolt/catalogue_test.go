package bolt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue/catalogtest"
)

func catPhotos(part uint64) [][]byte {
	var out [][]byte
	for i := range 4 {
		out = append(out, catalogtest.Photo(part, i, 0.1))
	}
	return out
}

// TestHelperCatalogueImporter is the child of TestCatalogueAfterSIGKILL:
// it adds parts one after the other and prints each number once AddPart
// returned.
func TestHelperCatalogueImporter(t *testing.T) {
	path := os.Getenv("PRUEFPLATZ_CATALOGUE_IMPORTER")
	if path == "" {
		t.Skip("helper process for TestCatalogueAfterSIGKILL")
	}
	st, err := OpenCatalogue(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	svc, err := catalogue.NewService(st, &catalogtest.Embedder{}, catalogue.Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		p := catalogue.Part{Number: fmt.Sprintf("K-%04d", i), Name: "killed import", Active: true}
		if err := svc.AddPart(context.Background(), p, catPhotos(uint64(i)), 1, 0, "import"); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(i)
	}
}

// TestCatalogueAfterSIGKILL kills an import between and during parts: the
// catalogue opens, passes the consistency check, and holds every part whose
// AddPart returned, whole, with no photo of a part that is missing.
func TestCatalogueAfterSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalogue.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCatalogueImporter$")
	cmd.Env = append(os.Environ(), "PRUEFPLATZ_CATALOGUE_IMPORTER="+path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var acked []int
	for sc.Scan() && len(acked) < 25 {
		var i int
		if _, err := fmt.Sscan(sc.Text(), &i); err == nil {
			acked = append(acked, i)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(acked) < 25 {
		t.Fatalf("importer acknowledged only %d parts", len(acked))
	}
	st, err := OpenCatalogue(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatalf("catalogue inconsistent after SIGKILL: %v", err)
	}
	for _, i := range acked {
		num := fmt.Sprintf("K-%04d", i)
		_, ph, err := st.Part(num)
		if err != nil {
			t.Fatalf("acknowledged part %s lost: %v", num, err)
		}
		if len(ph) != 4 {
			t.Fatalf("part %s has %d photos, want 4", num, len(ph))
		}
		want := map[string]bool{}
		for _, b := range catPhotos(uint64(i)) {
			want[catalogue.PhotoID(b)] = true
		}
		for _, p := range ph {
			b, err := st.PhotoJPEG(p.ID)
			if err != nil || !want[p.ID] || catalogue.PhotoID(b) != p.ID {
				t.Fatalf("part %s photo %s damaged: %v", num, p.ID, err)
			}
		}
	}
	// Every stored part is whole, including one the kill may have caught.
	parts, _ := st.Parts()
	for _, p := range parts {
		if _, ph, _ := st.Part(p.Number); len(ph) != 4 {
			t.Errorf("part %s stored with %d photos", p.Number, len(ph))
		}
	}
	n := 0
	st.Vectors("test-backbone", func(ph catalogue.Photo, v []float32) error {
		if v == nil {
			t.Errorf("photo %s has no vector", ph.ID)
		}
		n++
		return nil
	})
	if n != 4*len(parts) {
		t.Errorf("%d photos for %d parts", n, len(parts))
	}
}

func TestCatalogueStore(t *testing.T) {
	st, err := OpenCatalogue(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mk := func(part uint64, num string) []catalogue.NewPhoto {
		var out []catalogue.NewPhoto
		for _, b := range catPhotos(part) {
			out = append(out, catalogue.NewPhoto{Photo: catalogue.Photo{ID: catalogue.PhotoID(b)}, JPEG: b, Vector: []float32{1, 2, 3}})
		}
		return out
	}
	if err := st.AddPart(catalogue.Part{Number: "A", Name: "a"}, mk(1, "A"), "bb"); err != nil {
		t.Fatal(err)
	}
	if err := st.AddPart(catalogue.Part{Number: "A", Name: "again"}, mk(2, "A"), "bb"); !errors.Is(err, catalogue.ErrExists) {
		t.Fatalf("duplicate number: %v", err)
	}
	if err := st.AddPart(catalogue.Part{Number: "B", Name: "b"}, mk(1, "B"), "bb"); !errors.Is(err, catalogue.ErrDuplicatePhoto) {
		t.Fatalf("photos of A again: %v", err)
	}
	if _, _, err := st.Part("B"); !errors.Is(err, catalogue.ErrNotFound) {
		t.Fatalf("refused part B was stored: %v", err)
	}
	if err := st.AddPhotos("Z", mk(3, "Z"), "bb"); !errors.Is(err, catalogue.ErrNotFound) {
		t.Fatalf("photos for a missing part: %v", err)
	}
	var buf bytes.Buffer
	if n, err := st.Backup(&buf); err != nil || n == 0 {
		t.Fatalf("backup: %d %v", n, err)
	}
	if err := st.RemovePart("A"); err != nil {
		t.Fatal(err)
	}
	n := 0
	st.Vectors("bb", func(catalogue.Photo, []float32) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d photos left after remove", n)
	}
	if _, err := st.PhotoJPEG(mk(1, "A")[0].ID); !errors.Is(err, catalogue.ErrNotFound) {
		t.Errorf("JPEG left after remove: %v", err)
	}
	// The photos can come back under another part once A is gone.
	if err := st.AddPart(catalogue.Part{Number: "B", Name: "b"}, mk(1, "B"), "bb"); err != nil {
		t.Fatal(err)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}
