package catalogue

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// BadImageError is an Embedder's error for one image of a batch: Index is
// its position, Err wraps inspector.ErrBadImage or ErrImageTooLarge.
type BadImageError struct {
	Index int
	Err   error
}

func (e *BadImageError) Error() string { return fmt.Sprintf("photo %d: %v", e.Index+1, e.Err) }

// Unwrap returns the image error.
func (e *BadImageError) Unwrap() error { return e.Err }

// ParsePartsCSV reads a parts list: a header row naming the columns
// part_number, name, description (optional) and attributes (optional,
// "key=value;key=value"), then one row per part. Bad rows (wrong column
// count, invalid number, empty name, a number given twice) are named in
// problems and skipped. It returns an error only for an unreadable file or
// a header without part_number and name.
func ParsePartsCSV(r io.Reader) (parts map[string]Part, problems []string, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	hdr, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("parts list: %w", err)
	}
	col := map[string]int{}
	for i, h := range hdr {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	ni, ok1 := col["part_number"]
	na, ok2 := col["name"]
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("%w: parts list header %v needs part_number and name", ErrInvalid, hdr)
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	parts = map[string]Part{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				problems = append(problems, fmt.Sprintf("parts list line %d: %v", line, pe.Err))
				continue
			}
			return nil, problems, fmt.Errorf("parts list: %w", err)
		}
		if len(rec) <= max(ni, na) {
			problems = append(problems, fmt.Sprintf("parts list line %d: %d columns, the header has %d", line, len(rec), len(hdr)))
			continue
		}
		p := Part{Number: strings.TrimSpace(rec[ni]), Name: strings.TrimSpace(rec[na]), Description: get(rec, "description"), Active: true}
		if a := get(rec, "attributes"); a != "" {
			p.Attributes = map[string]string{}
			for _, kv := range strings.Split(a, ";") {
				k, v, ok := strings.Cut(kv, "=")
				if k = strings.TrimSpace(k); ok && k != "" {
					p.Attributes[k] = strings.TrimSpace(v)
				}
			}
		}
		if err := p.Validate(); err != nil {
			problems = append(problems, fmt.Sprintf("parts list line %d: %v", line, err))
			continue
		}
		if _, dup := parts[p.Number]; dup {
			problems = append(problems, fmt.Sprintf("parts list line %d: part number %s given twice; the first row counts", line, p.Number))
			continue
		}
		parts[p.Number] = p
	}
	return parts, problems, nil
}

// ImportReport says what ImportDir did.
type ImportReport struct {
	Parts    int      // parts added
	Photos   int      // photos stored
	Problems []string // what was skipped, and why
}

// imageExt are the file types ImportDir reads.
var imageExt = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true, ".webp": true}

// ImportDir imports an ImageFolder: dir/<part number>/<photo>. With a parts
// list (see ParsePartsCSV) a folder must name a part in it; without one,
// the part's name is its number. Each part is stored in its own
// transaction, so an interrupted import keeps every part it completed. A
// part already in the catalogue, a folder without a listed part, and an
// unreadable photo are named in the report and skipped; the rest is
// imported. progress (may be nil) is told each part's outcome. It returns
// ctx's error or a store error.
func (s *Service) ImportDir(ctx context.Context, dir string, parts map[string]Part, by string, progress func(done, total int, number string)) (ImportReport, error) {
	var rep ImportReport
	entries, err := os.ReadDir(dir)
	if err != nil {
		return rep, fmt.Errorf("import: %w", err)
	}
	var folders []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			folders = append(folders, e.Name())
		}
	}
	sort.Strings(folders)
	for i, num := range folders {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if progress != nil {
			progress(i, len(folders), num)
		}
		p, ok := parts[num]
		switch {
		case parts != nil && !ok:
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: unknown part number (not in the parts list), skipped", num))
			continue
		case parts == nil:
			p = Part{Number: num, Name: num, Active: true}
		}
		if err := ValidNumber(num); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %v, skipped", num, err))
			continue
		}
		if _, _, err := s.store.Part(num); err == nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: already in the catalogue, skipped", num))
			continue
		}
		files, _ := os.ReadDir(filepath.Join(dir, num))
		var names []string
		var imgs [][]byte
		for _, f := range files {
			if f.IsDir() || !imageExt[strings.ToLower(filepath.Ext(f.Name()))] {
				continue
			}
			path := filepath.Join(dir, num, f.Name())
			b, err := os.ReadFile(path)
			if err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %v, skipped", path, err))
				continue
			}
			names, imgs = append(names, path), append(imgs, b)
		}
		p.AddedBy = by
		p.Active = true
		for {
			if len(imgs) == 0 {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s: no readable photos, skipped", num))
				break
			}
			err := s.AddPart(ctx, p, imgs, 1, 0, "import")
			var bad *BadImageError
			if errors.As(err, &bad) && bad.Index < len(imgs) {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %v, skipped", names[bad.Index], bad.Err))
				names = append(names[:bad.Index:bad.Index], names[bad.Index+1:]...)
				imgs = append(imgs[:bad.Index:bad.Index], imgs[bad.Index+1:]...)
				continue
			}
			if errors.Is(err, ErrDuplicatePhoto) {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %v, skipped", num, err))
				break
			}
			if err != nil {
				if errors.Is(err, ErrInvalid) || errors.Is(err, ErrExists) {
					rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %v, skipped", num, err))
					break
				}
				return rep, err
			}
			rep.Parts++
			rep.Photos += len(imgs)
			break
		}
	}
	if progress != nil {
		progress(len(folders), len(folders), "")
	}
	for num := range parts {
		if _, err := os.Stat(filepath.Join(dir, num)); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: in the parts list but has no photo folder, skipped", num))
		}
	}
	sort.Strings(rep.Problems[len(rep.Problems)-countMissing(rep.Problems):])
	return rep, nil
}

func countMissing(ps []string) int {
	n := 0
	for i := len(ps) - 1; i >= 0 && strings.HasSuffix(ps[i], "has no photo folder, skipped"); i-- {
		n++
	}
	return n
}
