package stationui

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// The pages speak German and English. Every text comes from one message
// catalogue per language (web/i18n/<lang>.json, go-i18n's flat format);
// templates call {{.T "id"}}, and the page's script gets the same catalogue
// (common.js's t()). API error messages stay English with a stable code
// that the pages translate ("error.<code>").

// langCookie remembers a language chosen on a page.
const langCookie = "lang"

// translations holds the catalogues and picks a request's language.
type translations struct {
	bundle  *i18n.Bundle
	msgs    map[string]map[string]string // lang → id → text, for the pages' script
	tags    []language.Tag
	matcher language.Matcher
}

// loadTranslations reads every web/i18n/*.json; English is the fallback.
func loadTranslations(fsys fs.FS) (*translations, error) {
	t := &translations{bundle: i18n.NewBundle(language.English), msgs: map[string]map[string]string{}}
	t.bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	files, err := fs.Glob(fsys, "web/i18n/*.json")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("i18n: no message catalogues (%v)", err)
	}
	sort.Strings(files)
	t.tags = []language.Tag{language.English} // the matcher's first tag is its default
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		if _, err := t.bundle.ParseMessageFileBytes(b, f); err != nil {
			return nil, fmt.Errorf("i18n %s: %w", f, err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("i18n %s: %w", f, err)
		}
		lang := strings.TrimSuffix(path.Base(f), ".json")
		t.msgs[lang] = m
		if tag := language.Make(lang); tag != language.English {
			t.tags = append(t.tags, tag)
		}
	}
	t.matcher = language.NewMatcher(t.tags)
	return t, nil
}

// lang is the request's language: the one chosen on a page (cookie), else
// the browser's preference among ours, else English.
func (t *translations) lang(c *gin.Context) string {
	if v, err := c.Cookie(langCookie); err == nil {
		if _, ok := t.msgs[v]; ok {
			return v
		}
	}
	prefs, _, _ := language.ParseAcceptLanguage(c.GetHeader("Accept-Language"))
	_, i, _ := t.matcher.Match(prefs...)
	base, _ := t.tags[i].Base()
	return base.String()
}

// pageText is what a page needs to speak its language: the templates' T
// and the catalogue for its script.
type pageText struct {
	Lang string            `json:"lang"`
	Msgs map[string]string `json:"msgs"`
	loc  *i18n.Localizer
}

func (t *translations) page(lang string) pageText {
	return pageText{Lang: lang, Msgs: t.msgs[lang], loc: i18n.NewLocalizer(t.bundle, lang)}
}

// T returns the message id in the page's language; a missing id shows as
// itself (TestCataloguesComplete keeps that from shipping).
func (p pageText) T(id string) string {
	if p.loc == nil {
		return id
	}
	s, err := p.loc.Localize(&i18n.LocalizeConfig{MessageID: id})
	if err != nil {
		return id
	}
	return s
}
