package stationui

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/models"
)

// Model versions: the list, activation and rollback through the station.

// modelsResponse lists the registry for the engineer page.
type modelsResponse struct {
	Active *models.Active     `json:"active"`
	Models []*models.Card     `json:"models"`
	Errors []string           `json:"errors,omitempty"`
	Status inspector.ModelRef `json:"serving"`
}

func (s *Server) listModels(c *gin.Context) {
	r := modelsResponse{Models: []*models.Card{}, Status: s.st.Status().Model}
	if s.reg != nil {
		cards, errs := s.reg.List()
		if cards != nil {
			r.Models = cards
		}
		for _, e := range errs {
			r.Errors = append(r.Errors, e.Error())
		}
		if a, err := s.reg.ReadActive(); err == nil {
			r.Active = a
		}
	}
	c.JSON(http.StatusOK, r)
}

type activateRequest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func (s *Server) activateModel(c *gin.Context) {
	var req activateRequest
	if err := decodeJSON(c, &req, "activate"); err != nil {
		s.fail(c, err)
		return
	}
	if req.Name == "" || req.Version == "" {
		s.fail(c, badRequest("activate needs name and version"))
		return
	}
	s.activate(c, req.Name, req.Version)
}

func (s *Server) activate(c *gin.Context, name, version string) {
	var err error
	if s.reg == nil {
		// Without a registry the swap cannot be recorded; it lasts until restart.
		err = s.swapIn(c, name, version)
	} else {
		_, err = s.reg.Activate(name, version, func(card *models.Card, _ string) error {
			return s.swapIn(c, card.Name, card.Version)
		})
	}
	s.activated(c, auth.ActionModelActivate, name+"/"+version, err)
}

// swapIn asks the station to load, check and warm the model and swap it in.
// A refusal is the client's business (409 with the reason): the old model
// keeps serving.
func (s *Server) swapIn(c *gin.Context, name, version string) error {
	err := s.st.ActivateModel(c.Request.Context(), name, version)
	if err != nil && !errors.Is(err, models.ErrNoModel) && !errors.Is(err, inspector.ErrNotFound) {
		return fmt.Errorf("%w: %w", errConflict, err)
	}
	return err
}

// activated answers an activation or rollback and audits it, with the
// reason when the station refused the model.
func (s *Server) activated(c *gin.Context, action auth.Action, target string, err error) {
	if errors.Is(err, models.ErrTampered) || errors.Is(err, inspector.ErrModelShape) {
		err = fmt.Errorf("%w: %w", errConflict, err)
	}
	m := s.st.Status().Model
	if err != nil {
		s.audit(c, action, target, err.Error(), false)
		s.fail(c, err)
		return
	}
	s.audit(c, action, m.Name+"/"+m.Version, "sha256 "+m.SHA256, true)
	s.log.Info("model activated", "name", m.Name, "version", m.Version)
	c.JSON(http.StatusOK, m)
}

// rollbackModel re-activates the model that was active before the current
// one, checked and swapped in like any activation.
func (s *Server) rollbackModel(c *gin.Context) {
	if s.reg == nil {
		s.fail(c, fmt.Errorf("%w: no model registry configured", errUnavailable))
		return
	}
	_, err := s.reg.Rollback(func(card *models.Card, _ string) error {
		return s.swapIn(c, card.Name, card.Version)
	})
	s.activated(c, auth.ActionModelRollback, "previous model", err)
}
