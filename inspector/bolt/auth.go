package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/pruefplatz/pruefplatz/inspector/auth"
)

// Bucket names of the auth store.
var (
	bucketUsers    = []byte("users")
	bucketSessions = []byte("sessions")
	bucketTokens   = []byte("tokens")
	bucketAudit    = []byte("audit")
)

// AuthStore keeps users, sessions, API tokens and the audit log in their
// own bbolt file, beside the verdict store rather than in it:
//
//   - the verdict backup (/api/backup, engineer role) then holds no password
//     or token hashes and no audit log, which only admins may read;
//   - pruning verdicts never touches the audit log;
//   - it opens the file only for the length of one operation (under a
//     mutex, as bbolt locks the file per open), so `pruefplatz users` can
//     change users while the station runs. Auth operations are rare next to
//     verdicts (a login, a token check per machine request), and an open
//     costs well under a millisecond (BenchmarkAuthSession).
//
// Users are keyed by name, sessions and tokens by the SHA-256 of their
// secret, audit events by a big-endian sequence number (oldest first), all
// as JSON.
type AuthStore struct {
	path string
	mu   sync.Mutex
}

var _ auth.Store = (*AuthStore)(nil)

// OpenAuth creates (if needed) the auth store at path and checks it can be
// opened. Errors: ErrInUse when another process holds it for over a second.
func OpenAuth(path string) (*AuthStore, error) {
	s := &AuthStore{path: path}
	if err := s.update(func(*bbolt.Tx) error { return nil }); err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the store's file.
func (s *AuthStore) Path() string { return s.path }

func (s *AuthStore) open() (*bbolt.DB, error) {
	db, err := bbolt.Open(s.path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrInUse, s.path)
	}
	if err != nil {
		return nil, fmt.Errorf("open auth store %s: %w", s.path, err)
	}
	return db, nil
}

// update runs fn in a write transaction on a freshly opened file; the
// buckets exist by then.
func (s *AuthStore) update(fn func(*bbolt.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	db, err := s.open()
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketUsers, bucketSessions, bucketTokens, bucketAudit} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return fn(tx)
	})
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close auth store: %w", cerr)
	}
	return err
}

// view runs fn in a read transaction. A file made by OpenAuth has every
// bucket, so fn may use them.
func (s *AuthStore) view(fn func(*bbolt.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	db, err := s.open()
	if err != nil {
		return err
	}
	err = db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketAudit) == nil {
			return fmt.Errorf("auth store %s lacks its buckets", s.path)
		}
		return fn(tx)
	})
	db.Close()
	return err
}

func getJSON(b *bbolt.Bucket, k []byte, v any) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("record %q in %s: %w", k, "auth store", err)
	}
	return true, nil
}

func putJSON(b *bbolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

// CreateUser implements auth.Store.
func (s *AuthStore) CreateUser(_ context.Context, u auth.User) error {
	return s.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(u.Name)) != nil {
			return fmt.Errorf("%w: %s", auth.ErrUserExists, u.Name)
		}
		return putJSON(b, []byte(u.Name), u)
	})
}

// User implements auth.Store.
func (s *AuthStore) User(_ context.Context, name string) (*auth.User, error) {
	var u auth.User
	err := s.view(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketUsers), []byte(name), &u)
		if err == nil && !ok {
			err = fmt.Errorf("%w: %s", auth.ErrNoUser, name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// Users implements auth.Store.
func (s *AuthStore) Users(_ context.Context) ([]auth.User, error) {
	var out []auth.User
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u auth.User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("user %q: %w", k, err)
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// UpdateUser implements auth.Store.
func (s *AuthStore) UpdateUser(_ context.Context, name string, fn func(*auth.User) error) error {
	return s.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		var u auth.User
		ok, err := getJSON(b, []byte(name), &u)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s", auth.ErrNoUser, name)
		}
		if err := fn(&u); err != nil {
			return err
		}
		return putJSON(b, []byte(name), u)
	})
}

// CreateSession implements auth.Store.
func (s *AuthStore) CreateSession(_ context.Context, ss auth.Session) error {
	return s.update(func(tx *bbolt.Tx) error {
		return putJSON(tx.Bucket(bucketSessions), []byte(ss.ID), ss)
	})
}

// Session implements auth.Store.
func (s *AuthStore) Session(_ context.Context, id string) (*auth.Session, *auth.User, error) {
	var ss auth.Session
	var u auth.User
	err := s.view(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketSessions), []byte(id), &ss)
		if err != nil {
			return err
		}
		if !ok {
			return auth.ErrNoSession
		}
		ok, err = getJSON(tx.Bucket(bucketUsers), []byte(ss.User), &u)
		if err == nil && !ok {
			err = fmt.Errorf("%w: %s", auth.ErrNoUser, ss.User)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return &ss, &u, nil
}

// DeleteSession implements auth.Store.
func (s *AuthStore) DeleteSession(_ context.Context, id string) error {
	return s.update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketSessions).Delete([]byte(id)) })
}

// DeleteSessions implements auth.Store.
func (s *AuthStore) DeleteSessions(_ context.Context, user string, now time.Time) (int, error) {
	n := 0
	err := s.update(func(tx *bbolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketSessions)
		var doomed [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var ss auth.Session
			if err := json.Unmarshal(v, &ss); err != nil {
				// An unreadable session can never authenticate anyone.
				doomed = append(doomed, bytes.Clone(k))
				return nil
			}
			if (user != "" && ss.User == user) || (user == "" && !now.Before(ss.Expires)) {
				doomed = append(doomed, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	return n, err
}

// CreateToken implements auth.Store.
func (s *AuthStore) CreateToken(_ context.Context, t auth.Token) error {
	return s.update(func(tx *bbolt.Tx) error { return putJSON(tx.Bucket(bucketTokens), []byte(t.Hash), t) })
}

// Token implements auth.Store.
func (s *AuthStore) Token(_ context.Context, hash string) (*auth.Token, error) {
	var t auth.Token
	err := s.view(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketTokens), []byte(hash), &t)
		if err == nil && !ok {
			err = auth.ErrNoToken
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Tokens implements auth.Store.
func (s *AuthStore) Tokens(_ context.Context) ([]auth.Token, error) {
	var out []auth.Token
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			var t auth.Token
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("token %q: %w", k, err)
			}
			out = append(out, t)
			return nil
		})
	})
	sort.SliceStable(out, func(a, b int) bool { return out[a].Created.Before(out[b].Created) })
	return out, err
}

// RevokeToken implements auth.Store.
func (s *AuthStore) RevokeToken(_ context.Context, id string) (*auth.Token, error) {
	var found *auth.Token
	err := s.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var t auth.Token
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("token %q: %w", k, err)
			}
			if t.ID == id {
				t.Revoked = true
				found = &t
				return putJSON(b, bytes.Clone(k), t)
			}
		}
		return fmt.Errorf("%w: %s", auth.ErrNoToken, id)
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// AppendAudit implements auth.Store: the event is on disk when it returns nil.
func (s *AuthStore) AppendAudit(_ context.Context, e *auth.Event) error {
	return s.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.ID = id
		return putJSON(b, key(id), e)
	})
}

// Audit implements auth.Store.
func (s *AuthStore) Audit(_ context.Context, q auth.AuditQuery) ([]auth.Event, error) {
	var out []auth.Event
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		var k, v []byte
		if q.Before > 0 {
			c.Seek(key(q.Before))
			k, v = c.Prev()
		} else {
			k, v = c.Last()
		}
		for ; k != nil; k, v = c.Prev() {
			var e auth.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("audit event %x: %w", k, err)
			}
			out = append(out, e)
			if q.Limit > 0 && len(out) == q.Limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// Check runs bbolt's consistency check on the file.
func (s *AuthStore) Check() error {
	return s.view(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
}
