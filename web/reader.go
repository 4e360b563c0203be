package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/templates"
)

// The reader's identity travels in a signed cookie:
//
//	base64(name) "." issued (Unix seconds) "." nonce "." HMAC-SHA256
//
// The HMAC covers the name, the issue time and the nonce, under the
// server's reader key (Options.ReaderSecret); a cookie signed by the
// previous key (Options.ReaderPrevious) is accepted too, so that a key can
// be rotated without signing everyone out. A cookie lives readerTTL from
// its issue; signing out records its nonce in the session store until
// then, so the value is dead even if a copy of it survives. Every sign-in
// issues a new value. Only fragments that declare NeedsReader are told who
// reads (composer.ReaderFrom); no other fragment, and no remote fragment
// service, ever sees a cookie or an auth header.
const (
	readerCookie = "bs_reader"
	readerTTL    = 30 * 24 * time.Hour
	// readerSkew is how far in the future an issue time may be (another
	// instance's clock).
	readerSkew = time.Minute
)

var readerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// readerSecret returns the configured secret, or a random one (cookies then
// last as long as the process).
func readerSecret(s []byte) []byte {
	if len(s) > 0 {
		return s
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

func readerMAC(key []byte, name, issued, nonce string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("broadsheet reader v2\x00" + name + "\x00" + issued + "\x00" + nonce))
	return m.Sum(nil)
}

// signReader returns a new cookie value for name, issued now.
func (s *Server) signReader(name string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	issued := strconv.FormatInt(s.now().Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(name)) + "." + issued + "." + nonce + "." +
		base64.RawURLEncoding.EncodeToString(readerMAC(s.readerKey, name, issued, nonce))
}

// readerCookieOf verifies r's reader cookie and returns its reader, nonce
// and expiry; ok is false for a missing, malformed, forged or expired one
// (a revoked one is readerOf's business).
func (s *Server) readerCookieOf(r *http.Request) (name, nonce string, expires time.Time, ok bool) {
	c, err := r.Cookie(readerCookie)
	if err != nil || len(c.Value) > 256 {
		return "", "", time.Time{}, false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 4 {
		return "", "", time.Time{}, false
	}
	nb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || !readerName.Match(nb) {
		return "", "", time.Time{}, false
	}
	mac, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil {
		return "", "", time.Time{}, false
	}
	name, issued, nonce := string(nb), parts[1], parts[2]
	good := hmac.Equal(mac, readerMAC(s.readerKey, name, issued, nonce))
	if !good && len(s.opts.ReaderPrevious) > 0 {
		good = hmac.Equal(mac, readerMAC(s.opts.ReaderPrevious, name, issued, nonce))
	}
	sec, err := strconv.ParseInt(issued, 10, 64)
	if !good || err != nil {
		return "", "", time.Time{}, false
	}
	at, now := time.Unix(sec, 0), s.now()
	expires = at.Add(readerTTL)
	if at.After(now.Add(readerSkew)) || !now.Before(expires) {
		return "", "", time.Time{}, false
	}
	return name, nonce, expires, true
}

// readerOf returns the verified, live reader of r, or "". A session store
// that cannot answer whether the cookie was signed out lets it through
// (logged): a page does not fail for want of Redis.
func (s *Server) readerOf(r *http.Request) string {
	name, nonce, _, ok := s.readerCookieOf(r)
	if !ok {
		return ""
	}
	_, out, err := s.readerOuts.Get(r.Context(), readerOutKey(nonce))
	if err != nil {
		Logger(r.Context()).Warn("web: reader sign-out not checked", "err", err)
	}
	if out {
		return ""
	}
	return name
}

func readerOutKey(nonce string) string { return "reader-out:" + nonce }

// account shows who reads, with a form to sign in or out (a demo sign-in:
// any name will do; what matters is that the cookie is signed).
func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, templates.AccountPage(s.readerOf(r), ""))
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	name := ""
	if err := r.ParseForm(); err == nil {
		name = strings.ToLower(strings.TrimSpace(r.PostForm.Get("name")))
	}
	if !readerName.MatchString(name) {
		s.renderStatus(w, r, http.StatusBadRequest, templates.AccountPage("", "A name is 1 to 32 lowercase letters, digits, '-' or '_'."))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: readerCookie, Value: s.signReader(name), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil, MaxAge: int(readerTTL.Seconds())})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signOut drops the cookie and records its nonce as signed out until the
// cookie would have expired.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if _, nonce, expires, ok := s.readerCookieOf(r); ok {
		if err := s.readerOuts.Put(r.Context(), readerOutKey(nonce), "1", expires.Sub(s.now())); err != nil {
			Logger(r.Context()).Warn("web: reader sign-out not recorded: the cookie stays valid until it expires", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: readerCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}
