package catalogue

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"time"
)

// Options tune a Service. Zero fields take the defaults.
type Options struct {
	K                 int     // results per search; default 5
	TargetFalseReject float64 // calibration target; default 0.05
	Floor             float32 // lowest threshold; default 0.5
	Now               func() time.Time
	Log               *slog.Logger
	// ReembedBatch is how many photos the background re-embedding stores
	// at a time; default 16.
	ReembedBatch int
}

// Status is what the page shows about the catalogue.
type Status struct {
	Parts        int         `json:"parts"`
	Photos       int         `json:"photos"`  // reference photos in the index
	Pending      int         `json:"pending"` // photos still to embed with the current backbone
	Backbone     string      `json:"backbone"`
	BackboneSHA  string      `json:"backbone_sha256"`
	Calibration  Calibration `json:"calibration"`
	Reembedding  bool        `json:"reembedding"`
	ReembedDone  int         `json:"reembed_done"`
	ReembedTotal int         `json:"reembed_total"`
	ReembedError string      `json:"reembed_error,omitempty"`
}

// Service is the catalogue as sales and engineers use it: search, add,
// confirm, accept. It keeps the index in memory and rebuilds it after each
// change, so a new part is searchable as soon as AddPart returns.
type Service struct {
	store Store
	emb   Embedder
	opt   Options

	mu     sync.RWMutex
	ix     *Index
	cal    Calibration
	parts  map[string]Part
	status Status

	writeMu sync.Mutex // serialises changes, so index rebuilds see them in order
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewService loads the catalogue from store and builds the index from the
// vectors emb's backbone made. Photos without such a vector are embedded by
// Start in the background. It returns the store's error.
func NewService(store Store, emb Embedder, opt Options) (*Service, error) {
	if opt.K <= 0 {
		opt.K = 5
	}
	if opt.TargetFalseReject <= 0 {
		opt.TargetFalseReject = 0.05
	}
	if opt.Floor == 0 {
		opt.Floor = 0.25
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.ReembedBatch <= 0 {
		opt.ReembedBatch = 16
	}
	s := &Service{store: store, emb: emb, opt: opt}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// reload rebuilds the index and calibration from the store.
func (s *Service) reload() error {
	parts, err := s.store.Parts()
	if err != nil {
		return err
	}
	pm := make(map[string]Part, len(parts))
	for _, p := range parts {
		pm[p.Number] = p
	}
	b := NewBuilder(dimOf(s.emb))
	b.Tail = tailOf(s.emb)
	pending := 0
	err = s.store.Vectors(s.emb.Backbone(), func(ph Photo, v []float32) error {
		if v == nil {
			pending++
			return nil
		}
		if p, ok := pm[ph.Part]; ok && p.Active {
			b.Add(ph.Part, ph.ID, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ix := b.Build()
	cal := ix.Calibrate(s.opt.TargetFalseReject, s.opt.Floor)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ix, s.cal, s.parts = ix, cal, pm
	s.status.Parts, s.status.Photos, s.status.Pending = len(pm), ix.Len(), pending
	s.status.Backbone, s.status.BackboneSHA, s.status.Calibration = s.emb.BackboneName(), s.emb.Backbone(), cal
	return nil
}

// SyncCalibrationLimit is the index size up to which a change recalibrates
// before it returns; larger catalogues recalibrate in the background and
// answer with the previous threshold meanwhile (calibration scans the
// index a few hundred times).
const SyncCalibrationLimit = 5000

// extend adds stored photos to the index without a rebuild; writeMu is held.
func (s *Service) extend(p Part, photos []NewPhoto) {
	ids := make([]string, len(photos))
	vecs := make([][]float32, len(photos))
	for i, ph := range photos {
		ids[i], vecs[i] = ph.ID, ph.Vector
	}
	s.mu.RLock()
	ix := s.ix
	s.mu.RUnlock()
	if p.Active {
		ix = ix.Extend(p.Number, ids, vecs)
	}
	s.mu.Lock()
	s.ix = ix
	if _, ok := s.parts[p.Number]; !ok {
		s.parts = maps.Clone(s.parts)
		s.parts[p.Number] = p
	}
	s.status.Parts, s.status.Photos = len(s.parts), ix.Len()
	s.mu.Unlock()
	if ix.Len() <= SyncCalibrationLimit {
		s.setCalibration(ix, ix.Calibrate(s.opt.TargetFalseReject, s.opt.Floor))
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.setCalibration(ix, ix.Calibrate(s.opt.TargetFalseReject, s.opt.Floor))
	}()
}

// setCalibration keeps cal unless a newer index has replaced ix meanwhile.
func (s *Service) setCalibration(ix *Index, cal Calibration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ix == ix {
		s.cal, s.status.Calibration = cal, cal
	}
}

// dimOf is the embedding length; an Embedder may say it, else 1280.
func dimOf(e Embedder) int {
	if d, ok := e.(interface{ Dim() int }); ok {
		return d.Dim()
	}
	return 1280
}

// tailOf is how many of the Embedder's last vector values are a Shape: an
// Embedder says so with ShapeLen() (PhotoVector's callers), else none.
func tailOf(e Embedder) int {
	if d, ok := e.(interface{ ShapeLen() int }); ok {
		return d.ShapeLen()
	}
	return 0
}

// Start embeds, in the background, every photo that has no vector for the
// current backbone (after a backbone change, or an import cut short), and
// rebuilds the index when done. Close stops it.
func (s *Service) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.reembed(ctx); err != nil && ctx.Err() == nil {
			s.opt.Log.Error("catalogue re-embedding failed", "err", err)
			s.mu.Lock()
			s.status.ReembedError = err.Error()
			s.mu.Unlock()
		}
	}()
}

// Wait waits for the background work Start began to finish.
func (s *Service) Wait() { s.wg.Wait() }

// Close stops background work and waits for it.
func (s *Service) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

func (s *Service) reembed(ctx context.Context) error {
	var todo []Photo
	if err := s.store.Vectors(s.emb.Backbone(), func(ph Photo, v []float32) error {
		if v == nil {
			todo = append(todo, ph)
		}
		return nil
	}); err != nil {
		return err
	}
	if len(todo) == 0 {
		return nil
	}
	s.setReembed(true, 0, len(todo))
	s.opt.Log.Info("catalogue: embedding photos with the current backbone", "photos", len(todo), "backbone", s.emb.BackboneName())
	for start := 0; start < len(todo); start += s.opt.ReembedBatch {
		part := todo[start:min(start+s.opt.ReembedBatch, len(todo))]
		imgs := make([][]byte, len(part))
		ids := make([]string, len(part))
		for i, ph := range part {
			b, err := s.store.PhotoJPEG(ph.ID)
			if err != nil {
				return err
			}
			imgs[i], ids[i] = b, ph.ID
		}
		emb, err := s.emb.Embed(ctx, imgs)
		if err != nil {
			return err
		}
		vecs := make([][]float32, len(emb))
		for i, e := range emb {
			vecs[i] = e.Vector
		}
		s.writeMu.Lock()
		err = s.store.PutVectors(s.emb.Backbone(), ids, vecs)
		s.writeMu.Unlock()
		if err != nil {
			return err
		}
		s.setReembed(true, start+len(part), len(todo))
		s.opt.Log.Info("catalogue: re-embedding", "done", start+len(part), "total", len(todo))
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.reload()
	s.setReembed(false, len(todo), len(todo))
	return err
}

func (s *Service) setReembed(running bool, done, total int) {
	s.mu.Lock()
	s.status.Reembedding, s.status.ReembedDone, s.status.ReembedTotal = running, done, total
	s.mu.Unlock()
}

// Status returns the catalogue's size, backbone, threshold and progress.
func (s *Service) Status() Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.status
}

// Part returns a part and its photos (ErrNotFound).
func (s *Service) Part(number string) (Part, []Photo, error) { return s.store.Part(number) }

// Parts lists the catalogue.
func (s *Service) Parts() ([]Part, error) { return s.store.Parts() }

// PhotoJPEG returns a reference or customer photo.
func (s *Service) PhotoJPEG(id string) ([]byte, error) { return s.store.PhotoJPEG(id) }

// Search embeds the image and answers with the best parts, the first
// VerifyTop of them re-ordered by Verify when the Embedder is a Verifier.
// It returns the embedder's error (a bad image wraps
// inspector.ErrBadImage); a failed verification is logged and leaves the
// search's order.
func (s *Service) Search(ctx context.Context, image []byte) (Answer, []byte, error) {
	emb, err := s.emb.Embed(ctx, [][]byte{image})
	if err != nil {
		return Answer{}, nil, err
	}
	return s.search(ctx, emb[0].Vector, emb[0].Fine), emb[0].JPEG, nil
}

// SearchVector answers for an embedding, in the search's order (no
// verification: it has no photo to verify).
func (s *Service) SearchVector(v []float32) Answer {
	return s.search(context.Background(), v, nil)
}

func (s *Service) search(ctx context.Context, v []float32, fine *Fine) Answer {
	s.mu.RLock()
	ix, cal, parts := s.ix, s.cal, s.parts
	s.mu.RUnlock()
	hits := ix.Search(v, s.opt.K, nil)
	a := Answer{Threshold: cal.Threshold, Backbone: s.emb.Backbone(), Photos: ix.Len(), Results: []Result{}}
	// The answer is the best score's, before verification re-orders: the
	// threshold was calibrated on that score.
	a.NotInCatalogue = len(hits) == 0 || hits[0].Score < cal.Threshold
	if len(hits) > 0 {
		a.Score = hits[0].Score
	}
	var alike []Hit
	if vf, ok := s.emb.(Verifier); ok && fine != nil && min(VerifyTop, len(hits)) > 1 {
		var err error
		if alike, err = s.verify(ctx, vf, ix, hits, cal.Threshold, fine); err != nil {
			s.opt.Log.Warn("catalogue verification failed; search order kept", "err", err)
		}
	}
	for _, h := range hits {
		a.Results = append(a.Results, Result{Part: h.Part, Name: parts[h.Part].Name, Score: h.Score, Photo: h.Photo})
	}
	if len(hits) >= 2 {
		p0, p1 := parts[hits[0].Part], parts[hits[1].Part]
		a.MirrorTwins = p0.MirrorTwin() == p1.Number || p1.MirrorTwin() == p0.Number
	}
	if len(hits) > 0 {
		a.LookAlikes = lookAlikes(parts[hits[0].Part], alike, parts)
	}
	return a
}

// lookAlikes describes Verify's look-alikes of the first part, leaving out
// its mirror twin (the answer's MirrorTwins covers it).
func lookAlikes(first Part, alike []Hit, parts map[string]Part) []LookAlike {
	var out []LookAlike
	for _, h := range alike {
		p := parts[h.Part]
		if p.Number == first.MirrorTwin() || p.MirrorTwin() == first.Number {
			continue
		}
		la := LookAlike{Part: p.Number, Name: p.Name}
		for k, v := range p.Attributes {
			if k != MirrorAttr && first.Attributes[k] != v {
				la.Differs = append(la.Differs, k+": "+v)
			}
		}
		for k := range first.Attributes {
			if _, ok := p.Attributes[k]; !ok && k != MirrorAttr {
				la.Differs = append(la.Differs, k+": —")
			}
		}
		sort.Strings(la.Differs)
		out = append(out, la)
	}
	return out
}

// verify measures the best reference photo of each of the first
// VerifyTop hits from its stored JPEG, gives each its part's medians from
// ix (Index.WithPart), and re-orders the hits by Verify.
// It returns the store's or the Verifier's error, leaving hits alone.
func (s *Service) verify(ctx context.Context, vf Verifier, ix *Index, hits []Hit, threshold float32, query *Fine) ([]Hit, error) {
	n := min(VerifyTop, len(hits))
	jpegs := make([][]byte, n)
	for i, h := range hits[:n] {
		b, err := s.store.PhotoJPEG(h.Photo)
		if err != nil {
			return nil, fmt.Errorf("photo %s of %s: %w", h.Photo, h.Part, err)
		}
		jpegs[i] = b
	}
	fines, err := vf.Fine(ctx, jpegs)
	if err != nil {
		return nil, err
	}
	byPhoto := make(map[string]*Fine, n)
	for i, h := range hits[:n] {
		byPhoto[h.Photo] = ix.WithPart(fines[i], h.Part)
	}
	return Verify(hits, threshold, query, func(h Hit) *Fine { return byPhoto[h.Photo] }), nil
}

// SearchAndRecord is Search that also keeps the customer photo and an
// unconfirmed Match, so Confirm can later record the choice with the
// scores the person saw.
func (s *Service) SearchAndRecord(ctx context.Context, image []byte, by string) (Match, error) {
	a, jpeg, err := s.Search(ctx, image)
	if err != nil {
		return Match{}, err
	}
	m := Match{ID: newID(), At: s.opt.Now().UTC(), By: by, Query: photoID(jpeg), Answer: a}
	if err := s.store.PutQuery(m.Query, jpeg); err != nil {
		return Match{}, err
	}
	if err := s.store.AddMatch(m); err != nil {
		return Match{}, err
	}
	return m, nil
}

// Confirm records the part the person chose for a match ("" for none of
// these). chosen need not be among the results, but must be a part. It
// returns ErrNotFound for an unknown match or part.
func (s *Service) Confirm(id, chosen, by string) (Match, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	m, err := s.store.Match(id)
	if err != nil {
		return Match{}, err
	}
	if chosen != "" {
		if _, _, err := s.store.Part(chosen); err != nil {
			return Match{}, err
		}
	}
	if m.AcceptedBy != "" {
		return Match{}, fmt.Errorf("%w: match %s was already accepted as a reference photo", ErrInvalid, id)
	}
	m.Chosen, m.By, m.At = chosen, by, s.opt.Now().UTC()
	m.Confirmed = true
	return m, s.store.UpdateMatch(m)
}

// Accept makes a confirmed match's customer photo a reference photo of the
// chosen part; it counts from the next search.
func (s *Service) Accept(ctx context.Context, id, by string) (Match, error) {
	m, err := s.store.Match(id)
	if err != nil {
		return Match{}, err
	}
	if !m.Confirmed || m.Chosen == "" {
		return Match{}, fmt.Errorf("%w: match %s has no confirmed part", ErrInvalid, id)
	}
	if m.AcceptedBy != "" {
		return Match{}, fmt.Errorf("%w: match %s was accepted by %s", ErrDuplicatePhoto, id, m.AcceptedBy)
	}
	jpeg, err := s.store.PhotoJPEG(m.Query)
	if err != nil {
		return Match{}, err
	}
	if err := s.AddPhotos(ctx, m.Chosen, [][]byte{jpeg}, by, "match:"+m.ID); err != nil {
		return Match{}, err
	}
	m.AcceptedBy, m.AcceptedAt = by, s.opt.Now().UTC()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return m, s.store.UpdateMatch(m)
}

// Matches lists recent matches, newest first.
func (s *Service) Matches(limit int) ([]Match, error) { return s.store.Matches(limit) }

// AddPart adds a new part with its photos, searchable when it returns. It
// returns ErrInvalid (bad number, empty name, photo count outside
// minPhotos..maxPhotos; 0 means no bound), ErrExists, ErrDuplicatePhoto or
// the embedder's bad-image error; on any error nothing is stored.
func (s *Service) AddPart(ctx context.Context, p Part, images [][]byte, minPhotos, maxPhotos int, origin string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if len(images) < max(minPhotos, 1) || (maxPhotos > 0 && len(images) > maxPhotos) {
		return fmt.Errorf("%w: part %s needs %d to %d photos, got %d", ErrInvalid, p.Number, max(minPhotos, 1), maxPhotos, len(images))
	}
	if p.AddedAt.IsZero() {
		p.AddedAt = s.opt.Now().UTC()
	}
	photos, err := s.prepare(ctx, p.Number, images, p.AddedBy, origin)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.store.AddPart(p, photos, s.emb.Backbone()); err != nil {
		return err
	}
	s.extend(p, photos)
	return nil
}

// AddPhotos adds reference photos to a part (ErrNotFound, ErrDuplicatePhoto).
func (s *Service) AddPhotos(ctx context.Context, number string, images [][]byte, by, origin string) error {
	if len(images) == 0 {
		return fmt.Errorf("%w: no photos", ErrInvalid)
	}
	photos, err := s.prepare(ctx, number, images, by, origin)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.store.AddPhotos(number, photos, s.emb.Backbone()); err != nil {
		return err
	}
	s.mu.RLock()
	p, ok := s.parts[number]
	s.mu.RUnlock()
	if !ok {
		return s.reload()
	}
	s.extend(p, photos)
	return nil
}

// RemovePart deletes a part (ErrNotFound).
func (s *Service) RemovePart(number string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.store.RemovePart(number); err != nil {
		return err
	}
	return s.reload()
}

// prepare embeds images and refuses the same photo twice in one request.
func (s *Service) prepare(ctx context.Context, number string, images [][]byte, by, origin string) ([]NewPhoto, error) {
	emb, err := s.emb.Embed(ctx, images)
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	out := make([]NewPhoto, len(emb))
	now := s.opt.Now().UTC()
	for i, e := range emb {
		id := photoID(e.JPEG)
		if j, dup := seen[id]; dup {
			return nil, fmt.Errorf("%w: photos %d and %d are the same picture", ErrDuplicatePhoto, j+1, i+1)
		}
		seen[id] = i
		out[i] = NewPhoto{Photo: Photo{ID: id, Part: number, AddedBy: by, AddedAt: now, Origin: origin}, JPEG: e.JPEG, Vector: e.Vector}
	}
	return out, nil
}

// PhotoID is the id of a photo: the hex sha256 of its JPEG.
func photoID(jpeg []byte) string {
	h := sha256.Sum256(jpeg)
	return hex.EncodeToString(h[:])
}

// PhotoID returns the id a photo with these JPEG bytes gets.
func PhotoID(jpeg []byte) string { return photoID(jpeg) }

func newID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(errors.New("catalogue: no randomness")) // crypto/rand never fails on supported systems
	}
	return hex.EncodeToString(b[:])
}
