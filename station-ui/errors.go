package stationui

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/models"
)

// Request errors that are the client's fault. They are mapped in httpStatus
// with the domain's sentinels, so every handler reports failures the same way.
var (
	// errBadRequest marks malformed JSON, parameters or ids.
	errBadRequest = errors.New("bad request")
	// errConflict marks a request that cannot apply to the current state.
	errConflict = errors.New("conflict")
	// errUnavailable marks a feature the wired store or registry lacks.
	errUnavailable = errors.New("not available")
)

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// httpStatus is the one mapping from errors to HTTP statuses.
func httpStatus(err error) int {
	var maxErr *http.MaxBytesError
	switch {
	case errors.Is(err, auth.ErrUnauthenticated), errors.Is(err, auth.ErrBadCredentials):
		return http.StatusUnauthorized
	case errors.Is(err, auth.ErrForbidden), errors.Is(err, errCrossSite):
		return http.StatusForbidden
	case errors.Is(err, auth.ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, errMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, auth.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, auth.ErrUserExists):
		return http.StatusConflict
	case errors.Is(err, catalogue.ErrExists), errors.Is(err, catalogue.ErrDuplicatePhoto):
		return http.StatusConflict
	case errors.Is(err, catalogue.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, inspector.ErrNotFound), errors.Is(err, models.ErrNoModel), errors.Is(err, catalogue.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, inspector.ErrImageTooLarge), errors.As(err, &maxErr):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, inspector.ErrBadImage), errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, models.ErrNoHistory), errors.Is(err, errConflict):
		return http.StatusConflict
	case errors.Is(err, errUnavailable):
		return http.StatusNotImplemented
	case errors.Is(err, context.Canceled):
		return 499 // client went away; nobody reads the answer
	default:
		return http.StatusInternalServerError
	}
}

// errorCode is the stable, language-free name of a failure that the pages
// translate ("error.<code>" in web/i18n); the message stays English.
func errorCode(err error, status int) string {
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		return "bad_credentials"
	case errors.Is(err, inspector.ErrBadImage):
		return "bad_image"
	}
	return statusCodes[status]
}

// statusCodes names each status the API answers with (httpStatus).
var statusCodes = map[int]string{
	http.StatusBadRequest: "bad_request", http.StatusUnauthorized: "unauthenticated", http.StatusForbidden: "forbidden",
	http.StatusNotFound: "not_found", http.StatusConflict: "conflict", http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType: "unsupported_media_type", http.StatusTooManyRequests: "rate_limited",
	http.StatusNotImplemented: "unavailable", http.StatusInternalServerError: "internal", 499: "internal",
}

// fail answers err as JSON {"error": message, "code": code} with the mapped status. Server
// errors are logged and their detail withheld from the client.
func (s *Server) fail(c *gin.Context, err error) {
	code := httpStatus(err)
	msg := err.Error()
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		msg = fmt.Sprintf("%v: upload exceeds %d bytes", inspector.ErrImageTooLarge, maxErr.Limit)
	}
	if code >= 500 {
		s.log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		msg = http.StatusText(code)
	}
	c.AbortWithStatusJSON(code, gin.H{"error": msg, "code": errorCode(err, code)})
}
