package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"codeberg.org/go-pdf/fpdf"
)

// DefaultFontDir is where Debian's fonts-dejavu-core puts the DejaVu fonts.
const DefaultFontDir = "/usr/share/fonts/truetype/dejavu"

// The fonts the PDF embeds: core PDF fonts know only cp1252, and the report
// needs umlauts, ß, →, ≤ and ×; DejaVu covers them and ships with Debian.
var fontFiles = map[string]string{
	"sans":      "DejaVuSans.ttf",
	"sans-bold": "DejaVuSans-Bold.ttf",
	"mono":      "DejaVuSansMono.ttf",
}

// ErrNoFont is returned by PDF when a font file is missing.
var ErrNoFont = errors.New("report: font missing (install fonts-dejavu-core)")

// PDFOptions configure the PDF renderer.
type PDFOptions struct {
	// FontDir holds DejaVuSans.ttf, DejaVuSans-Bold.ttf and
	// DejaVuSansMono.ttf; DefaultFontDir when empty.
	FontDir string
}

// Page geometry in millimetres (A4).
const (
	margin   = 18.0
	lineH    = 4.6
	cellPad  = 1.2
	keyWidth = 64.0
)

type pdfWriter struct {
	f      *fpdf.Fpdf
	r      *Report
	t      map[string]string
	width  float64 // text width
	bottom float64 // lowest y for content
	images int
}

// PDF writes the report as an A4 PDF. The output is reproducible: the
// same report gives the same bytes (the PDF's dates are the report's).
// It returns an error wrapping ErrNoFont when a font is missing, or the
// renderer's or w's error.
func (r *Report) PDF(w io.Writer, opt PDFOptions) error {
	if opt.FontDir == "" {
		opt.FontDir = DefaultFontDir
	}
	f := fpdf.New("P", "mm", "A4", "")
	for _, name := range []string{"sans", "sans-bold", "mono"} {
		b, err := os.ReadFile(filepath.Join(opt.FontDir, fontFiles[name]))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNoFont, err)
		}
		switch name {
		case "sans":
			f.AddUTF8FontFromBytes("dejavu", "", b)
		case "sans-bold":
			f.AddUTF8FontFromBytes("dejavu", "B", b)
		case "mono":
			f.AddUTF8FontFromBytes("dejavumono", "", b)
		}
	}
	f.SetCreationDate(r.Created)
	f.SetModificationDate(r.Created)
	f.SetCatalogSort(true)
	f.SetTitle(r.Title, true)
	f.SetSubject(r.Subtitle, true)
	f.SetCreator("pruefplatz", true)
	f.SetMargins(margin, margin, margin)
	// No inner cell margin: table cells place their text with cellPad.
	f.SetCellMargin(0)
	f.SetAutoPageBreak(true, margin)
	f.AliasNbPages("{nb}")
	pw, ph := f.GetPageSize()
	p := &pdfWriter{f: f, r: r, t: catalogues[r.Lang], width: pw - 2*margin, bottom: ph - margin - 4}
	f.SetFooterFunc(p.footer)
	f.SetHeaderFunc(p.header)
	f.AddPage()
	p.title()
	for i, s := range r.Sections {
		p.section(i+1, s)
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("report: pdf: %w", err)
	}
	return f.Output(w)
}

func (p *pdfWriter) header() {
	if p.f.PageNo() == 1 {
		return
	}
	p.f.SetFont("dejavu", "", 7.5)
	p.f.SetTextColor(110, 110, 110)
	p.f.SetXY(margin, 9)
	p.f.CellFormat(p.width, 4, p.r.Title, "B", 0, "L", false, 0, "")
	p.f.SetTextColor(0, 0, 0)
	p.f.SetY(margin)
}

func (p *pdfWriter) footer() {
	f := p.f
	f.SetY(-margin + 4)
	f.SetFont("dejavumono", "", 6.5)
	f.SetTextColor(110, 110, 110)
	f.CellFormat(p.width*0.8, 4, fmt.Sprintf(p.t["footer"], p.r.SHA256), "T", 0, "L", false, 0, "")
	f.SetFont("dejavu", "", 7.5)
	f.CellFormat(p.width*0.2, 4, pageLabel(p.t["page"], f.PageNo()), "T", 0, "R", false, 0, "")
	f.SetTextColor(0, 0, 0)
}

// pageLabel fills the page pattern with the page number and the alias
// fpdf replaces with the page count at the end.
func pageLabel(pattern string, page int) string {
	var b bytes.Buffer
	n := 0
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '%' && i+1 < len(pattern) && pattern[i+1] == 'd' {
			if n == 0 {
				fmt.Fprint(&b, page)
			} else {
				b.WriteString("{nb}")
			}
			n++
			i++
			continue
		}
		b.WriteByte(pattern[i])
	}
	return b.String()
}

func (p *pdfWriter) title() {
	f := p.f
	f.SetFont("dejavu", "B", 18)
	f.MultiCell(p.width, 8, p.r.Title, "", "L", false)
	f.SetFont("dejavu", "", 10)
	f.SetTextColor(80, 80, 80)
	f.MultiCell(p.width, 5, p.r.Subtitle, "", "L", false)
	f.SetTextColor(0, 0, 0)
	f.Ln(3)
}

// need starts a new page unless h millimetres fit below the cursor.
func (p *pdfWriter) need(h float64) {
	if p.f.GetY()+h > p.bottom {
		p.f.AddPage()
	}
}

func (p *pdfWriter) section(n int, s Section) {
	f := p.f
	p.need(45) // a section's heading never ends a page
	f.Ln(2)
	f.SetFont("dejavu", "B", 13)
	f.SetTextColor(20, 60, 110)
	f.CellFormat(p.width, 7, fmt.Sprintf("%d  %s", n, s.Title), "B", 1, "L", false, 0, "")
	f.SetTextColor(0, 0, 0)
	f.Ln(2)
	for i, b := range s.Blocks {
		switch {
		case b.Heading != "":
			// A heading stays with the start of what it introduces.
			next := 12.0
			if i+1 < len(s.Blocks) {
				switch nb := s.Blocks[i+1]; {
				case nb.Image != nil:
					next = 60
				case nb.Table != nil:
					next += min(40, float64(len(nb.Table.Rows)+1)*5.4)
				case nb.Pairs != nil:
					next += min(30, float64(len(nb.Pairs))*lineH)
				}
			}
			p.need(next)
			f.Ln(1.5)
			f.SetFont("dejavu", "B", 10)
			f.MultiCell(p.width, 5, b.Heading, "", "L", false)
			f.Ln(0.5)
		case b.Text != "":
			p.text(b.Text, b.Warn)
		case b.Pairs != nil:
			p.pairs(b.Pairs)
		case b.Table != nil:
			p.table(b.Table)
		case b.Image != nil:
			p.image(b.Image)
		}
	}
}

func (p *pdfWriter) text(s string, warn bool) {
	f := p.f
	f.SetFont("dejavu", "", 9)
	if warn {
		f.SetTextColor(150, 40, 0)
		s = "⚠ " + s
	}
	f.MultiCell(p.width, lineH, s, "", "L", false)
	f.SetTextColor(0, 0, 0)
	f.Ln(1)
}

func (p *pdfWriter) pairs(pairs [][2]string) {
	f := p.f
	vw := p.width - keyWidth
	for _, kv := range pairs {
		f.SetFont("dejavu", "", 9)
		lines := f.SplitText(kv[1], vw)
		f.SetFont("dejavu", "B", 8.5)
		klines := f.SplitText(kv[0], keyWidth-2)
		h := float64(max(len(lines), len(klines), 1)) * lineH
		p.need(h)
		x, y := f.GetX(), f.GetY()
		f.SetTextColor(70, 70, 70)
		f.MultiCell(keyWidth-2, lineH, kv[0], "", "L", false)
		f.SetTextColor(0, 0, 0)
		f.SetXY(x+keyWidth, y)
		f.SetFont("dejavu", "", 9)
		f.MultiCell(vw, lineH, kv[1], "", "L", false)
		f.SetXY(x, y+h+0.4)
	}
	f.Ln(1)
}

func (p *pdfWriter) table(t *Table) {
	f := p.f
	ws := t.Widths
	if len(ws) != len(t.Head) {
		ws = make([]float64, len(t.Head))
		for i := range ws {
			ws[i] = 1
		}
	}
	var sum float64
	for _, w := range ws {
		sum += w
	}
	cols := make([]float64, len(ws))
	for i, w := range ws {
		cols[i] = p.width * w / sum
	}
	const th = 4.2
	font := func(head bool, col int) {
		switch {
		case head:
			f.SetFont("dejavu", "B", 8)
		case t.Mono && col == len(cols)-1:
			f.SetFont("dejavumono", "", 7.2)
		default:
			f.SetFont("dejavu", "", 8)
		}
	}
	wrap := func(cells []string, head bool) ([][]string, float64) {
		n := 1
		split := make([][]string, len(cols))
		for i := range cols {
			font(head, i)
			if i < len(cells) {
				split[i] = f.SplitText(cells[i], cols[i]-2*cellPad)
			}
			n = max(n, len(split[i]))
		}
		return split, float64(n)*th + 1.2
	}
	row := func(cells []string, head bool) {
		split, h := wrap(cells, head)
		if f.GetY()+h > p.bottom {
			f.AddPage()
			if !head {
				rowHead(f, t, cols, th, font)
			}
		}
		x, y := f.GetX(), f.GetY()
		if head {
			f.SetFillColor(225, 231, 240)
		}
		for i, c := range cols {
			f.Rect(x, y, c, h, map[bool]string{true: "FD", false: "D"}[head])
			font(head, i)
			for j, line := range split[i] {
				f.SetXY(x+cellPad, y+0.6+float64(j)*th)
				f.CellFormat(c-2*cellPad, th, line, "", 0, "L", false, 0, "")
			}
			x += c
		}
		f.SetXY(margin, y+h)
	}
	f.SetDrawColor(170, 170, 170)
	f.SetLineWidth(0.15)
	// A table that fits on a page is not split; a longer one starts with
	// at least its header and first row.
	_, total := wrap(t.Head, true)
	for _, r := range t.Rows {
		_, h := wrap(r, false)
		total += h
	}
	if total < (p.bottom-margin)/2 {
		p.need(total + 2)
	} else {
		p.need(2*th + 3)
	}
	row(t.Head, true)
	for _, r := range t.Rows {
		row(r, false)
	}
	f.SetDrawColor(0, 0, 0)
	f.Ln(2)
}

// rowHead repeats a table's header at the top of a new page.
func rowHead(f *fpdf.Fpdf, t *Table, cols []float64, th float64, font func(bool, int)) {
	x, y := f.GetX(), f.GetY()
	h := th + 1.2
	f.SetFillColor(225, 231, 240)
	for i, c := range cols {
		f.Rect(x, y, c, h, "FD")
		font(true, i)
		f.SetXY(x+cellPad, y+0.6)
		if i < len(t.Head) {
			f.CellFormat(c-2*cellPad, th, t.Head[i], "", 0, "L", false, 0, "")
		}
		x += c
	}
	f.SetXY(margin, y+h)
}

func (p *pdfWriter) image(im *Image) {
	f := p.f
	sum := sha256.Sum256(im.PNG)
	name := hex.EncodeToString(sum[:8])
	info := f.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(im.PNG))
	if info == nil || f.Err() {
		return // f.Error() reports it
	}
	w := p.width * im.Width
	h := w * info.Height() / info.Width()
	if maxH := p.bottom - margin - 20; h > maxH {
		w, h = w*maxH/h, maxH
	}
	p.need(h + 8)
	y := f.GetY()
	f.ImageOptions(name, margin, y, w, h, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	f.SetY(y + h + 1)
	f.SetFont("dejavu", "", 7.5)
	f.SetTextColor(90, 90, 90)
	f.MultiCell(p.width, 3.8, im.Caption, "", "L", false)
	f.SetTextColor(0, 0, 0)
	f.Ln(2)
	p.images++
}
