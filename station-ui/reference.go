package stationui

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Reference pictures of the classes, for the pages.

var imageExt = []string{".jpg", ".jpeg", ".png", ".bmp", ".webp"}

func (s *Server) referenceList(c *gin.Context) {
	classes := []string{}
	if s.cfg.ReferenceImages != "" {
		entries, _ := os.ReadDir(s.cfg.ReferenceImages)
		for _, e := range entries {
			if e.IsDir() && validClass(e.Name()) && s.referencePath(e.Name()) != "" {
				classes = append(classes, e.Name())
			}
		}
	}
	c.JSON(http.StatusOK, gin.H{"classes": classes})
}

func validClass(name string) bool {
	return name != "" && !strings.HasPrefix(name, ".") && !strings.ContainsAny(name, `/\`) && len(name) <= 200
}

// referencePath is the first image (by name) in the class's catalogue folder.
func (s *Server) referencePath(class string) string {
	dir := filepath.Join(s.cfg.ReferenceImages, class)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	names := []string{}
	for _, e := range entries {
		if !e.IsDir() && slices.Contains(imageExt, strings.ToLower(filepath.Ext(e.Name()))) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return filepath.Join(dir, names[0])
}

func (s *Server) referenceImage(c *gin.Context) {
	class := c.Param("class")
	if !validClass(class) {
		s.fail(c, badRequest("class %q", class))
		return
	}
	p := ""
	if s.cfg.ReferenceImages != "" {
		p = s.referencePath(class)
	}
	if p == "" {
		s.fail(c, fmt.Errorf("%w: no reference image for %q", inspector.ErrNotFound, class))
		return
	}
	c.Header("Cache-Control", "public, max-age=3600")
	c.File(p)
}
