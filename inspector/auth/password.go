package auth

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Hasher hashes and checks passwords.
type Hasher interface {
	// Hash returns a self-describing hash of password (salt and cost included).
	Hash(password string) ([]byte, error)
	// Compare returns nil when password matches hash, ErrBadCredentials otherwise.
	Compare(hash []byte, password string) error
}

// Bcrypt hashes with bcrypt at Cost (bcrypt.DefaultCost when 0). Tests use
// bcrypt.MinCost to stay fast; the cost is stored in each hash, so a
// station can raise it and old hashes keep working.
type Bcrypt struct{ Cost int }

// Password length limits. bcrypt reads at most 72 bytes; a longer password
// would be silently cut, so it is refused.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 72
)

// CheckPassword returns ErrInvalid for a password that is too short or too long.
func CheckPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return fmt.Errorf("%w: password shorter than %d characters", ErrInvalid, MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("%w: password longer than %d bytes", ErrInvalid, MaxPasswordLen)
	}
	return nil
}

// Hash implements Hasher.
func (b Bcrypt) Hash(password string) ([]byte, error) {
	cost := b.Cost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// Compare implements Hasher.
func (b Bcrypt) Compare(hash []byte, password string) error {
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) || errors.Is(err, bcrypt.ErrHashTooShort) {
		return ErrBadCredentials
	}
	return err
}
