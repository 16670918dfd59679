// Package catalogue is the spare-part catalogue sales uses to identify a
// customer's photo: parts with reference photos, a few-shot search over the
// photos' backbone embeddings with per-part aggregation, a "not in the
// catalogue" threshold calibrated on the catalogue itself, mirror-twin
// warnings, and the record of what a person confirmed.
//
// It is independent of the station's model: a part becomes searchable the
// moment its photos are embedded, with no training. The package is pure Go;
// storage (inspector/bolt) and embedding (inspector/embed behind the
// Embedder interface, wired in cmd/pruefplatz) are adapters.
package catalogue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by the package and its store.
var (
	// ErrInvalid is returned for a part or request that breaks a rule (empty
	// name, bad part number, too few or too many photos).
	ErrInvalid = errors.New("invalid catalogue input")
	// ErrExists is returned when a part number is taken.
	ErrExists = errors.New("part number already in the catalogue")
	// ErrDuplicatePhoto is returned for a photo whose bytes are already a
	// reference photo, or given twice in one request.
	ErrDuplicatePhoto = errors.New("photo already in the catalogue")
	// ErrNotFound is returned for an unknown part, photo or match.
	ErrNotFound = errors.New("not in the catalogue")
)

// Photo limits of AddPart from the sales page; imports may bring more.
const (
	MinNewPartPhotos = 3
	MaxNewPartPhotos = 10
)

// MirrorAttr is the attribute naming a part's left/right mirror twin.
const MirrorAttr = "mirror_of"

// Part is one catalogue entry. Number is the key.
type Part struct {
	Number      string            `json:"number"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	AddedBy     string            `json:"added_by"`
	AddedAt     time.Time         `json:"added_at"`
	Active      bool              `json:"active"`
}

// Validate checks the part's number and name. It returns an error wrapping
// ErrInvalid that says what is wrong.
func (p Part) Validate() error {
	if err := ValidNumber(p.Number); err != nil {
		return err
	}
	if strings.TrimSpace(p.Name) == "" {
		return fmt.Errorf("%w: part %s has an empty name", ErrInvalid, p.Number)
	}
	if len(p.Name) > 200 || len(p.Description) > 4000 {
		return fmt.Errorf("%w: part %s: name or description too long", ErrInvalid, p.Number)
	}
	return nil
}

// ValidNumber checks a part number: 1–64 characters, letters, digits and
// - _ . / only (it is a folder name on import and part of URLs).
func ValidNumber(n string) error {
	if n == "" || len(n) > 64 || !utf8.ValidString(n) {
		return fmt.Errorf("%w: part number %q must be 1 to 64 characters", ErrInvalid, n)
	}
	for _, r := range n {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("%w: part number %q: only letters, digits, '-', '_' and '.' are allowed", ErrInvalid, n)
		}
	}
	if n == "." || n == ".." {
		return fmt.Errorf("%w: part number %q", ErrInvalid, n)
	}
	return nil
}

// MirrorTwin returns the part number of p's mirror twin, or "".
func (p Part) MirrorTwin() string { return p.Attributes[MirrorAttr] }

// Photo is a reference photo of a part. ID is the hex sha256 of its JPEG,
// so the same photo cannot be added twice.
type Photo struct {
	ID      string    `json:"id"`
	Part    string    `json:"part"`
	AddedBy string    `json:"added_by"`
	AddedAt time.Time `json:"added_at"`
	// Origin says where it came from: "import", "upload" or "match:<id>"
	// for a confirmed customer photo an engineer accepted.
	Origin string `json:"origin"`
}

// NewPhoto is a photo on its way into the store: its JPEG, its embedding
// and the backbone that made it.
type NewPhoto struct {
	Photo
	JPEG   []byte
	Vector []float32
}

// Result is one part in a search answer.
type Result struct {
	Part  string  `json:"part"`
	Name  string  `json:"name"`
	Score float32 `json:"score"` // cosine similarity of the best reference photo
	Photo string  `json:"photo"` // id of that photo
}

// Answer is a search's outcome.
type Answer struct {
	Results []Result `json:"results"` // best first, at most k
	// NotInCatalogue is set when the best score is below Threshold: the
	// results are then only the nearest, not a match.
	NotInCatalogue bool    `json:"not_in_catalogue"`
	Threshold      float32 `json:"threshold"`
	// Score is the search's best score, before the verification
	// re-orders: the score the threshold decides on. The first result's
	// own score may be lower (a twin in another finish may come first,
	// even one below the threshold, see Verify).
	Score float32 `json:"score"`
	// MirrorTwins is set when the two best parts are each other's mirror
	// image: the person must check which side the part is for.
	MirrorTwins bool `json:"mirror_twins"`
	// LookAlikes are the first part's geometric twins among the best
	// parts (see Verify), which the photo may not tell apart from it: the
	// person checks what differs before confirming. Its mirror twin is
	// not among them (MirrorTwins says so).
	LookAlikes []LookAlike `json:"look_alikes,omitempty"`
	Backbone   string      `json:"backbone"` // sha256 of the backbone that embedded the query
	Photos     int         `json:"photos"`   // reference photos searched
}

// LookAlike is a part that looks like the answer's first part.
type LookAlike struct {
	Part string `json:"part"`
	Name string `json:"name"`
	// Differs are the attributes whose values differ from the first
	// part's, as "key: value" with this part's value (for example
	// "finish: stainless"), sorted; empty when only the name tells.
	Differs []string `json:"differs,omitempty"`
}

// Match is a recorded search and what the person chose.
type Match struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Query  string    `json:"query"`  // photo id (sha256) of the customer photo
	Chosen string    `json:"chosen"` // part number; "" for "none of these"
	// Confirmed is set once the person chose (a part or none of these).
	Confirmed bool   `json:"confirmed"`
	Answer    Answer `json:"answer"`
	// AcceptedBy is the engineer who made the photo a reference photo of
	// Chosen ("" while not accepted).
	AcceptedBy string    `json:"accepted_by,omitempty"`
	AcceptedAt time.Time `json:"accepted_at,omitzero"`
}

// Store keeps the catalogue durably. Every method's nil error means the
// change is on disk; a failed change leaves nothing half-written.
type Store interface {
	// AddPart stores a new part with its photos in one transaction. It
	// returns ErrExists for a taken number and ErrDuplicatePhoto for a
	// photo already stored.
	AddPart(p Part, photos []NewPhoto, backbone string) error
	// AddPhotos adds photos to an existing part (ErrNotFound otherwise).
	AddPhotos(number string, photos []NewPhoto, backbone string) error
	// RemovePart deletes a part and its photos and vectors.
	RemovePart(number string) error
	// Part returns a part and its photos.
	Part(number string) (Part, []Photo, error)
	// Parts lists all parts by number.
	Parts() ([]Part, error)
	// PhotoJPEG returns a stored photo's JPEG.
	PhotoJPEG(id string) ([]byte, error)
	// Vectors calls fn for every photo with its vector for backbone (nil
	// when the photo has none yet). The slices are copies.
	Vectors(backbone string, fn func(ph Photo, v []float32) error) error
	// PutVectors stores vectors for photos under backbone.
	PutVectors(backbone string, ids []string, vecs [][]float32) error
	// PutQuery stores a customer photo for a match record.
	PutQuery(id string, jpeg []byte) error
	// AddMatch records a match; UpdateMatch replaces it.
	AddMatch(m Match) error
	UpdateMatch(m Match) error
	// Match returns a match by id; Matches the newest first, up to limit.
	Match(id string) (Match, error)
	Matches(limit int) ([]Match, error)
}

// Embedded is one image turned into what the catalogue keeps.
type Embedded struct {
	JPEG   []byte // the image as JPEG (re-encoded when it came as another format)
	Vector []float32
	// Fine is the part at a finer resolution for Verify, from an Embedder
	// that is also a Verifier (nil otherwise, or when no part was found).
	// It is not stored: a search measures its reference photos again.
	Fine *Fine
}

// Verifier is an Embedder that also measures photos for Verify (cmd's
// photoEmbedder). The search measures the best few parts' best reference
// photos from their stored JPEGs instead of keeping a Fine per photo: at
// 50,000 photos the maps would outweigh the index. Fine returns one Fine
// per image, nil where no part was found, and the errors of Embed.
type Verifier interface {
	Fine(ctx context.Context, images [][]byte) ([]*Fine, error)
}

// Embedder turns images (JPEG, PNG, …) into unit-length embeddings with one
// backbone. Errors for a bad image wrap inspector.ErrBadImage or
// inspector.ErrImageTooLarge and name the image's index.
type Embedder interface {
	Embed(ctx context.Context, images [][]byte) ([]Embedded, error)
	// Backbone is the key vectors are kept under: the hex sha256 of the
	// backbone file, followed by "+" and the feature version when a
	// vector is more than the backbone's embedding (cmd's photoEmbedder:
	// the upright view and the silhouette). A new backbone or feature
	// version finds no vectors, so the catalogue is re-embedded.
	Backbone() string
	// BackboneName is the name shown to people.
	BackboneName() string
}
