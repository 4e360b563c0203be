package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// sessionTTL is how long an admin session lives after its log-in.
const sessionTTL = 12 * time.Hour

// An admin session is a random id in the cookie and, in s.sessions, an
// entry under a hash of the id (whoever reads the store cannot sign in
// with what they read) whose value is a fingerprint of the admin token: a
// new token ends every session made under the old one. Log-out deletes the
// entry; the store expires it after sessionTTL.

// newSession stores a new session and returns its id.
func (s *Server) newSession(ctx context.Context) (string, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	if err := s.sessions.Put(ctx, sessionKey(id), s.tokenFingerprint(), sessionTTL); err != nil {
		return "", err
	}
	return id, nil
}

// sessionOK reports whether id is a live session made under the current
// token. A store that cannot answer says no: the Bearer token still works.
func (s *Server) sessionOK(ctx context.Context, id string) bool {
	if len(id) != 43 {
		return false
	}
	v, ok, err := s.sessions.Get(ctx, sessionKey(id))
	if err != nil {
		Logger(ctx).Warn("web: admin session not checked", "err", err)
		return false
	}
	return ok && hmac.Equal([]byte(v), []byte(s.tokenFingerprint()))
}

// sessionKey is the store's key for session id.
func sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return "admin:" + hex.EncodeToString(h[:])
}

// tokenFingerprint stands for the admin token in session entries.
func (s *Server) tokenFingerprint() string {
	m := hmac.New(sha256.New, []byte(s.opts.AdminToken))
	m.Write([]byte("broadsheet admin session v2"))
	return hex.EncodeToString(m.Sum(nil))
}
