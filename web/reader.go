package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/templates"
)

// The reader's identity travels in a signed cookie: the name and an HMAC of
// it under the server's secret. Only fragments that declare NeedsReader
// are told who reads (composer.ReaderFrom); no other fragment, and no
// remote fragment service, ever sees a cookie or an auth header.
const readerCookie = "bs_reader"

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

func (s *Server) signReader(name string) string {
	m := hmac.New(sha256.New, s.readerKey)
	m.Write([]byte("broadsheet reader v1:" + name))
	return base64.RawURLEncoding.EncodeToString([]byte(name)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// readerOf returns the verified reader of r, or "".
func (s *Server) readerOf(r *http.Request) string {
	c, err := r.Cookie(readerCookie)
	if err != nil || len(c.Value) > 256 {
		return ""
	}
	enc, _, ok := strings.Cut(c.Value, ".")
	if !ok {
		return ""
	}
	name, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || !readerName.Match(name) {
		return ""
	}
	if !hmac.Equal([]byte(c.Value), []byte(s.signReader(string(name)))) {
		return ""
	}
	return string(name)
}

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
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil, MaxAge: int((30 * 24 * time.Hour).Seconds())})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: readerCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}
