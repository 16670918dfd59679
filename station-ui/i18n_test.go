package stationui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// TestCataloguesComplete fails when a message is missing in either
// language: every catalogue has the same ids, none empty, and every id the
// templates and scripts use (literally, or as one of a known family such
// as "state.<source state>") is in them.
func TestCataloguesComplete(t *testing.T) {
	tr, err := loadTranslations(webFS)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.msgs) < 2 || tr.msgs["de"] == nil || tr.msgs["en"] == nil {
		t.Fatalf("catalogues %v, want de and en", keys(tr.msgs))
	}
	used := map[string]bool{}
	for _, pat := range []struct {
		glob string
		re   *regexp.Regexp
	}{
		{"web/*.html", regexp.MustCompile(`\.T "([a-z0-9_.]+)"`)},
		{"web/static/*.js", regexp.MustCompile(`\bt\("([a-z0-9_.]+)"\s*[,)]`)},
	} {
		files, _ := fs.Glob(webFS, pat.glob)
		for _, f := range files {
			b, _ := fs.ReadFile(webFS, f)
			for _, m := range pat.re.FindAllStringSubmatch(string(b), -1) {
				used[m[1]] = true
			}
		}
	}
	if len(used) < 50 {
		t.Fatalf("only %d message ids found in the pages: the scan is broken", len(used))
	}
	for _, s := range inspector.SourceStates() {
		used["state."+string(s)] = true
	}
	for _, o := range []inspector.Outcome{inspector.OutcomeOK, inspector.OutcomeNOK, inspector.OutcomeClass, inspector.OutcomeUncertain} {
		used["outcome."+string(o)] = true
	}
	for _, c := range statusCodes {
		used["error."+c] = true
	}
	used["error.bad_credentials"], used["error.bad_image"] = true, true
	for lang, m := range tr.msgs {
		for id := range used {
			if m[id] == "" {
				t.Errorf("%s.json: %q is missing", lang, id)
			}
		}
		for other, om := range tr.msgs {
			for id := range om {
				if _, ok := m[id]; !ok {
					t.Errorf("%s.json lacks %q, which %s.json has", lang, id, other)
				}
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestPageLanguage: German for a German browser, English otherwise, and a
// language chosen on the page (the cookie) wins.
func TestPageLanguage(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name, accept, cookie, lang, text string
	}{
		{"german browser", "de-DE,de;q=0.9,en;q=0.8", "", "de", "Jetzt prüfen"},
		{"austrian browser", "de-AT", "", "de", "Jetzt prüfen"},
		{"english browser", "en-GB,en;q=0.9", "", "en", "Check now"},
		{"no preference", "", "", "en", "Check now"},
		{"french browser gets english", "fr-FR,fr;q=0.9", "", "en", "Check now"},
		{"chosen english on a german browser", "de-DE", "en", "en", "Check now"},
		{"chosen german", "en-US", "de", "de", "Jetzt prüfen"},
		{"unknown cookie falls back", "de-DE", "xx", "de", "Jetzt prüfen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = "127.0.0.1:5000" // the kiosk sees the operator page
			req.Host = "127.0.0.1:8080"
			if tc.accept != "" {
				req.Header.Set("Accept-Language", tc.accept)
			}
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: langCookie, Value: tc.cookie})
			}
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != http.StatusOK || !strings.Contains(body, `<html lang="`+tc.lang+`">`) || !strings.Contains(body, tc.text) {
				t.Errorf("%d, want lang %s with %q:\n%.600s", rec.Code, tc.lang, tc.text, body)
			}
		})
	}
}

func TestAPIErrorsCarryACode(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do("GET", "/api/verdicts/999999", "", nil)
	if !strings.Contains(rec.Body.String(), `"code":"`) {
		t.Errorf("%d %s: no error code", rec.Code, rec.Body.String())
	}
}
