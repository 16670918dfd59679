package stationui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
)

// Catalogue access: sales searches and records matches; adding a part is
// for sales and engineers; accepting a customer photo as a reference and
// removing a part are the engineer's.
var (
	catRead   = auth.Require(auth.RoleSales, auth.RoleEngineer)
	catSearch = auth.Require(auth.RoleSales)
	catEdit   = auth.Require(auth.RoleSales, auth.RoleEngineer)
)

// DefaultMaxPartUpload bounds one add-part request (all photos together).
const DefaultMaxPartUpload = 96 << 20

func (s *Server) catalogueRoutes(r *gin.Engine) {
	s.handle(r, "GET", "/api/catalogue", catRead, s.catStatus)
	s.handle(r, "GET", "/api/catalogue/parts", catRead, s.catParts)
	s.handle(r, "POST", "/api/catalogue/parts", catEdit, s.catAddPart)
	s.handle(r, "GET", "/api/catalogue/parts/:number", catRead, s.catPart)
	s.handle(r, "DELETE", "/api/catalogue/parts/:number", engineer, s.catRemovePart)
	s.handle(r, "GET", "/api/catalogue/photos/:id", catRead, s.catPhoto)
	s.handle(r, "POST", "/api/catalogue/search", catSearch, s.catSearch)
	s.handle(r, "GET", "/api/catalogue/matches", catRead, s.catMatches)
	s.handle(r, "POST", "/api/catalogue/matches/:id/confirm", catSearch, s.catConfirm)
	s.handle(r, "POST", "/api/catalogue/matches/:id/accept", engineer, s.catAccept)
}

func (s *Server) catalogue(c *gin.Context) *catalogue.Service {
	if s.cfg.Catalogue == nil {
		s.fail(c, fmt.Errorf("%w: no catalogue is configured", errUnavailable))
		return nil
	}
	return s.cfg.Catalogue
}

func (s *Server) catStatus(c *gin.Context) {
	if cat := s.catalogue(c); cat != nil {
		c.JSON(http.StatusOK, cat.Status())
	}
}

func (s *Server) catParts(c *gin.Context) {
	cat := s.catalogue(c)
	if cat == nil {
		return
	}
	parts, err := cat.Parts()
	if err != nil {
		s.fail(c, err)
		return
	}
	if parts == nil {
		parts = []catalogue.Part{}
	}
	c.JSON(http.StatusOK, parts)
}

func (s *Server) catPart(c *gin.Context) {
	cat := s.catalogue(c)
	if cat == nil {
		return
	}
	p, photos, err := cat.Part(c.Param("number"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"part": p, "photos": photos})
}

func (s *Server) catRemovePart(c *gin.Context) {
	cat := s.catalogue(c)
	if cat == nil {
		return
	}
	if err := cat.RemovePart(c.Param("number")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) catPhoto(c *gin.Context) {
	cat := s.catalogue(c)
	if cat == nil {
		return
	}
	b, err := cat.PhotoJPEG(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	// A photo's id is its content hash: it never changes.
	c.Header("Cache-Control", "private, max-age=86400, immutable")
	c.Data(http.StatusOK, "image/jpeg", b)
}

func (s *Server) catSearch(c *gin.Context) {
	cat := s.catalogue(c)
	if cat == nil {
		return
	}
	data, err := s.readUpload(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	m, err := cat.SearchAndRecord(c.Request.Context(), data, principal(c).Name)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}

func (s *Server) catMatches(c *gin.Context) {
	cat := s.catalogue(c)
	if cat == nil {
		return
	}
	limit := 50
	if q := c.Query("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > 1000 {
			s.fail(c, badRequest("limit=%q: want 1 to 1000", q))
			return
		}
		limit = n
	}
	ms, err := cat.Matches(limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	if ms == nil {
		ms = []catalogue.Match{}
	}
	c.JSON(http.StatusOK, ms)
}

type confirmRequest struct {
	// Part is the part the person chose; "" means none of these.
	Part string `json:"part"`
}

func (s *Server) catConfirm(c *gin.Context) {
	cat := s.catalogue(c)
	if cat == nil {
		return
	}
	var req confirmRequest
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 4096)
	if err := json.NewDecoder(c.Request.Body).Decode(&req); err != nil {
		s.fail(c, badRequest("confirm: %v", err))
		return
	}
	m, err := cat.Confirm(c.Param("id"), strings.TrimSpace(req.Part), principal(c).Name)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}

func (s *Server) catAccept(c *gin.Context) {
	cat := s.catalogue(c)
	if cat == nil {
		return
	}
	m, err := cat.Accept(c.Request.Context(), c.Param("id"), principal(c).Name)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}

// catAddPart takes a multipart form: number, name, description and 3 to
// 10 files "photo". Each photo is bounded by MaxUpload, the whole request
// by MaxPartUpload.
func (s *Server) catAddPart(c *gin.Context) {
	cat := s.catalogue(c)
	if cat == nil {
		return
	}
	ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if ct != "multipart/form-data" {
		s.fail(c, fmt.Errorf("%w: send multipart/form-data with number, name and photo files", errMediaType))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxPartUpload)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		s.fail(c, badRequest("multipart: %v", err))
		return
	}
	p := catalogue.Part{Active: true, AddedBy: principal(c).Name}
	var photos [][]byte
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var maxErr *http.MaxBytesError
			if errors.As(err, &maxErr) {
				s.fail(c, err)
				return
			}
			s.fail(c, badRequest("multipart: %v", err))
			return
		}
		switch part.FormName() {
		case "number", "name", "description":
			b, err := io.ReadAll(io.LimitReader(part, 4097))
			if err != nil || len(b) > 4096 {
				s.fail(c, badRequest("field %s: too long or unreadable", part.FormName()))
				return
			}
			v := strings.TrimSpace(string(b))
			switch part.FormName() {
			case "number":
				p.Number = v
			case "name":
				p.Name = v
			default:
				p.Description = v
			}
		case "photo":
			if len(photos) >= catalogue.MaxNewPartPhotos {
				s.fail(c, fmt.Errorf("%w: at most %d photos", catalogue.ErrInvalid, catalogue.MaxNewPartPhotos))
				return
			}
			b, err := io.ReadAll(io.LimitReader(part, s.cfg.MaxUpload+1))
			if err != nil {
				var maxErr *http.MaxBytesError
				if errors.As(err, &maxErr) {
					s.fail(c, err)
					return
				}
				s.fail(c, fmt.Errorf("%w: reading photo %d: %v", inspector.ErrBadImage, len(photos)+1, err))
				return
			}
			if int64(len(b)) > s.cfg.MaxUpload {
				s.fail(c, fmt.Errorf("%w: photo %d (%s) exceeds %d bytes", inspector.ErrImageTooLarge, len(photos)+1, part.FileName(), s.cfg.MaxUpload))
				return
			}
			photos = append(photos, b)
		}
	}
	if err := cat.AddPart(c.Request.Context(), p, photos, catalogue.MinNewPartPhotos, catalogue.MaxNewPartPhotos, "upload"); err != nil {
		s.fail(c, err)
		return
	}
	part, ph, err := cat.Part(p.Number)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"part": part, "photos": ph})
}
