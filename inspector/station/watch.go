package station

import (
	"context"
	"fmt"
	"os"
	"time"
)

// watchActive polls the registry's active.json (every interval) and
// activates the model it names when the file changes, so that
// `pruefplatz models activate` in another shell reaches the running station.
// last is the file's mtime when the station started.
func (s *Station) watchActive(ctx context.Context, last time.Time) {
	path := s.cfg.ActiveFile
	t := time.NewTicker(s.cfg.ActivePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(path)
		if err != nil || !st.ModTime().After(last) {
			continue
		}
		last = st.ModTime()
		a, err := s.cfg.ReadActive()
		if err != nil {
			s.setModelErr(fmt.Errorf("%s: %w", path, err))
			continue
		}
		if m := s.model.Load(); m != nil && m.Card.Name == a.Name && m.Card.Version == a.Version {
			continue
		}
		s.log.Info("active.json changed", "model", a.Name+"/"+a.Version)
		_ = s.ActivateModel(ctx, a.Name, a.Version) // logged and in status
	}
}
