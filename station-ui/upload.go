package stationui

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // header checks for uploads (DecodeConfig only)
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Uploads: classifying a photo someone sends (size and pixel limits first).

// classify reads an upload (multipart field "image" or the raw body), checks
// its size and claimed dimensions, and lets the station classify it.
func (s *Server) classify(c *gin.Context) {
	store := false
	if q := c.Query("store"); q != "" {
		b, err := strconv.ParseBool(q)
		if err != nil {
			s.fail(c, badRequest("store=%q is not a boolean", q))
			return
		}
		store = b
	}
	data, err := s.readUpload(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	v, err := s.st.ClassifyImage(c.Request.Context(), data, store)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.metrics.classified.WithLabelValues(string(v.Outcome)).Inc()
	c.JSON(http.StatusOK, v)
}

// multipartSlack allows for multipart headers and boundaries around a file
// of exactly MaxUpload bytes.
const multipartSlack = 64 << 10

func (s *Server) readUpload(c *gin.Context) ([]byte, error) {
	limit := s.cfg.MaxUpload
	ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	var data []byte
	if ct == "multipart/form-data" {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit+multipartSlack)
		mr, err := c.Request.MultipartReader()
		if err != nil {
			return nil, badRequest("multipart: %v", err)
		}
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil, badRequest("multipart form has no field %q", "image")
			}
			if err != nil {
				var maxErr *http.MaxBytesError
				if errors.As(err, &maxErr) {
					return nil, err
				}
				return nil, badRequest("multipart: %v", err)
			}
			if p.FormName() != "image" {
				continue
			}
			data, err = io.ReadAll(io.LimitReader(p, limit+1))
			if err != nil {
				var maxErr *http.MaxBytesError
				if errors.As(err, &maxErr) {
					return nil, err
				}
				return nil, fmt.Errorf("%w: reading upload: %v", inspector.ErrBadImage, err)
			}
			break
		}
	} else {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		var err error
		data, err = io.ReadAll(c.Request.Body)
		if err != nil {
			var maxErr *http.MaxBytesError
			if errors.As(err, &maxErr) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: reading upload: %v", inspector.ErrBadImage, err)
		}
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: upload exceeds %d bytes", inspector.ErrImageTooLarge, limit)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty upload", inspector.ErrBadImage)
	}
	// Refuse a decompression bomb from its header alone; formats Go cannot
	// parse here are left to the station's decoder, which checks again.
	if s.cfg.MaxPixels > 0 {
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil &&
			int64(cfg.Width)*int64(cfg.Height) > s.cfg.MaxPixels {
			return nil, fmt.Errorf("%w: header claims %dx%d pixels (limit %d)",
				inspector.ErrImageTooLarge, cfg.Width, cfg.Height, s.cfg.MaxPixels)
		}
	}
	return data, nil
}
