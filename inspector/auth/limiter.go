package auth

import (
	"sync"
	"time"
)

// Limiter counts failed logins per key (a user name, an address) in a
// sliding window and refuses a key once it reached Max failures in Window.
// It is in memory on purpose: a restart forgets it, but a restart is
// itself slow enough not to help a guesser.
type Limiter struct {
	Max    int
	Window time.Duration
	Now    func() time.Time

	mu    sync.Mutex
	fails map[string][]time.Time
}

// maxLimiterKeys bounds the memory an attacker can make the limiter hold by
// trying many names or addresses; beyond it old entries are swept.
const maxLimiterKeys = 10000

// NewLimiter returns a limiter allowing max failures per window.
func NewLimiter(max int, window time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{Max: max, Window: window, Now: now, fails: map[string][]time.Time{}}
}

// Wait returns how long key must wait before its next attempt; 0 means now.
func (l *Limiter) Wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	f := l.recent(key, now)
	if len(f) < l.Max {
		return 0
	}
	return f[len(f)-l.Max].Add(l.Window).Sub(now)
}

// Fail records a failed attempt for key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	if len(l.fails) >= maxLimiterKeys {
		for k := range l.fails {
			l.recent(k, now)
		}
	}
	l.fails[key] = append(l.recent(key, now), now)
}

// Reset forgets key's failures (after a successful login).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

// recent drops key's failures older than the window and returns the rest.
func (l *Limiter) recent(key string, now time.Time) []time.Time {
	f := l.fails[key]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= l.Window {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = f
	return f
}
