package api

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// signInLimiter throttles credential guesses per client address: console
// sign-ins and API calls with a token that matches nobody. Tokens are long
// random strings, so this is defence in depth and a brake on a noisy
// client, not the only protection. Buckets idle for a while are dropped so
// the map stays small.
type signInLimiter struct {
	every rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newSignInLimiter(every rate.Limit, burst int) *signInLimiter {
	return &signInLimiter{every: every, burst: burst, buckets: map[string]*bucket{}}
}

// allow spends one attempt of r's client and reports whether it had one.
func (l *signInLimiter) allow(r *http.Request) bool {
	return l.get(r).Allow()
}

// blocked reports, without spending anything, whether r's client has used
// up its attempts, so a guesser is refused before its token is even looked up.
func (l *signInLimiter) blocked(r *http.Request) bool {
	return l.get(r).Tokens() < 1
}

func (l *signInLimiter) get(r *http.Request) *rate.Limiter {
	key := clientAddr(r)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim
}

// clientAddr is the peer's IP. X-Forwarded-For is not trusted: anyone can
// set it, and an attacker would pick a fresh value per guess.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
