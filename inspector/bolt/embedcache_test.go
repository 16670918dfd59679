package bolt

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
)

func cacheKey(i int) embed.Key {
	return embed.MakeKey(embed.KeyParts{ImageSHA256: strconv.Itoa(i), BackboneSHA256: "b", Spec: embed.Spec("", nil)})
}

// cacheVec is vector i, its content derived from i so it can be checked.
func cacheVec(i int) []float32 {
	v := make([]float32, embed.Dim)
	for j := range v {
		v[j] = float32(i) + float32(j)/embed.Dim
	}
	return v
}

func openCacheTest(t *testing.T, path string) *EmbedCache {
	t.Helper()
	c, err := OpenEmbedCache(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		c.Close()
	})
	return c
}

func TestEmbedCacheRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.db")
	c, err := OpenEmbedCache(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := []embed.Key{cacheKey(1), cacheKey(2)}
	if err := c.Put(keys, [][]float32{cacheVec(1), cacheVec(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEmbedCache(path); err == nil {
		t.Error("a second open of a cache in use succeeded")
	}
	c.Close()
	c = openCacheTest(t, path)
	got, err := c.Get(append(keys, cacheKey(3)))
	if err != nil {
		t.Fatal(err)
	}
	if got[2] != nil {
		t.Error("a missing key returned a vector")
	}
	for i := 0; i < 2; i++ {
		want := cacheVec(i + 1)
		for j := range want {
			if got[i][j] != want[j] {
				t.Fatalf("vector %d value %d: %g, want %g", i, j, got[i][j], want[j])
			}
		}
	}
	if n, _ := c.Len(); n != 2 {
		t.Errorf("Len %d, want 2", n)
	}
}

// TestHelperCacheWriter is the child of TestEmbedCacheSurvivesSIGKILL: it
// stores batches of vectors and prints each batch's last index once Put returned.
func TestHelperCacheWriter(t *testing.T) {
	path := os.Getenv("PRUEFPLATZ_CACHE_WRITER")
	if path == "" {
		t.Skip("helper process for TestEmbedCacheSurvivesSIGKILL")
	}
	c, err := OpenEmbedCache(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; ; i += 4 {
		keys := []embed.Key{cacheKey(i), cacheKey(i + 1), cacheKey(i + 2), cacheKey(i + 3)}
		if err := c.Put(keys, [][]float32{cacheVec(i), cacheVec(i + 1), cacheVec(i + 2), cacheVec(i + 3)}); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(i + 3)
	}
}

// TestEmbedCacheSurvivesSIGKILL kills a writer mid-run: the file opens, is
// consistent, and every batch it acknowledged is there intact.
func TestEmbedCacheSurvivesSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCacheWriter$")
	cmd.Env = append(os.Environ(), "PRUEFPLATZ_CACHE_WRITER="+path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	last := -1
	for sc.Scan() && last < 200 {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			last = n
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if last < 200 {
		t.Fatalf("writer acknowledged only up to %d", last)
	}
	c := openCacheTest(t, path)
	keys := make([]embed.Key, last+1)
	for i := range keys {
		keys[i] = cacheKey(i)
	}
	got, err := c.Get(keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v == nil || v[0] != float32(i) || v[embed.Dim-1] != cacheVec(i)[embed.Dim-1] {
			t.Fatalf("acknowledged vector %d lost or damaged", i)
		}
	}
}

// TestEmbedCacheBytesAreLittleEndian pins the file format: a cache written on
// one machine reads the same on another, whichever copy path the host takes.
func TestEmbedCacheBytesAreLittleEndian(t *testing.T) {
	vec := []float32{1, -2.5, float32(math.Inf(1)), 0}
	want := []byte{0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0, 0, 0, 0x80, 0x7f, 0, 0, 0, 0}
	if got := encodeFloats(vec); !bytes.Equal(got, want) {
		t.Fatalf("encoded % x, want % x", got, want)
	}
	got := decodeFloats(want)
	if len(got) != len(vec) {
		t.Fatalf("decoded %v, want %v", got, vec)
	}
	for i := range vec {
		if got[i] != vec[i] {
			t.Fatalf("decoded %v, want %v", got, vec)
		}
	}
	want[0] = 1 // the copy is the caller's: the bytes it came from may change
	if got[0] != 1 {
		t.Fatalf("decoded vector aliases its bytes: %v", got)
	}
}
