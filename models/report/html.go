package report

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
)

// HTML writes the report as one self-contained HTML page (images inline,
// no script, no external file), printable from any browser. It returns
// w's error.
func (r *Report) HTML(w io.Writer) error {
	return htmlTmpl.Execute(w, struct {
		*Report
		T map[string]string
	}{r, catalogues[r.Lang]})
}

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"inc": func(i int) int { return i + 1 },
	"png": func(b []byte) template.URL {
		return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))
	},
	"width": func(w float64) int {
		if w <= 0 || w > 1 {
			w = 1
		}
		return int(w * 100)
	},
	"footer": func(pattern, sum string) string { return fmt.Sprintf(pattern, sum) },
}).Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 "DejaVu Sans", system-ui, sans-serif; color: #111; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; }
.sub { color: #555; margin-top: 0; }
h2 { color: #143c6e; border-bottom: 1px solid #143c6e; padding-bottom: .2rem; margin-top: 2rem; font-size: 1.25rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
dl { display: grid; grid-template-columns: 16rem 1fr; gap: .15rem 1rem; margin: .4rem 0; }
dt { color: #444; font-weight: bold; font-size: .92rem; }
dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .88rem; width: 100%; }
th, td { border: 1px solid #aaa; padding: .15rem .4rem; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #e1e7f0; }
table.mono td:last-child { font-family: "DejaVu Sans Mono", monospace; font-size: .8rem; }
.warn { color: #962800; }
.warn::before { content: "⚠ "; }
figure { margin: .5rem 0 1rem; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: .8rem; }
footer { margin-top: 2rem; border-top: 1px solid #aaa; color: #555; font: .75rem "DejaVu Sans Mono", monospace; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">{{.Subtitle}}</p>
{{range $i, $s := .Sections}}
<section>
<h2>{{inc $i}}&nbsp; {{$s.Title}}</h2>
{{range $s.Blocks}}
{{if .Heading}}<h3>{{.Heading}}</h3>
{{else if .Text}}<p{{if .Warn}} class="warn"{{end}}>{{.Text}}</p>
{{else if .Pairs}}<dl>{{range .Pairs}}<dt>{{index . 0}}</dt><dd>{{index . 1}}</dd>{{end}}</dl>
{{else if .Table}}<table{{if .Table.Mono}} class="mono"{{end}}><thead><tr>{{range .Table.Head}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Table.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</tbody></table>
{{else if .Image}}<figure><img src="{{png .Image.PNG}}" alt="{{.Image.Caption}}" style="width: {{width .Image.Width}}%"><figcaption>{{.Image.Caption}}</figcaption></figure>
{{end}}
{{end}}
</section>
{{end}}
<footer>{{footer .T.footer .SHA256}}</footer>
</body>
</html>
`))
