// The admin's credentials: the token (compared in constant time, under a
// backoff), the session cookie of the login form, and the operator's name.

package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/broadsheet/broadsheet/templates"
)

// tokenOK compares given with the admin token in constant time (hashing
// both first, so that not even the length leaks).
func (s *Server) tokenOK(given string) bool {
	a := sha256.Sum256([]byte(given))
	b := sha256.Sum256([]byte(s.opts.AdminToken))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// authenticate reports whether r carries the admin token (Authorization:
// Bearer) or a live session cookie. A wrong token counts against r's
// client (s.logins); while the client, or every client together, is
// backing off, no token is even compared and retry says when to come
// back. A session cookie is not a guess at the token and is not counted.
func (s *Server) authenticate(r *http.Request) (ok bool, retry time.Duration) {
	if s.opts.AdminToken == "" {
		return false, 0
	}
	if h := r.Header.Get("Authorization"); h != "" {
		tok, _ := strings.CutPrefix(h, "Bearer ")
		return s.guess(r, tok)
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return s.sessionOK(r.Context(), c.Value), 0
	}
	return false, 0
}

// guess checks a token r's client gives, under the log-in backoff.
func (s *Server) guess(r *http.Request, tok string) (ok bool, retry time.Duration) {
	client := s.clientKey(r)
	if wait := s.logins.wait(client); wait > 0 {
		Logger(r.Context()).Warn("web: admin token attempt refused: backing off", "client", client, "retry_after", wait.Round(time.Second))
		return false, wait
	}
	if s.tokenOK(tok) {
		s.logins.succeeded(client)
		return true, 0
	}
	s.logins.failed(client)
	Logger(r.Context()).Warn("web: wrong admin token", "client", client)
	return false, 0
}

// isAdmin reports whether r carries the admin token or session (never
// true when no token is configured).
func (s *Server) isAdmin(r *http.Request) bool {
	ok, _ := s.authenticate(r)
	return ok
}

// retryAfter sets Retry-After to d in whole seconds, at least one.
func retryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(max(time.Second, d+time.Second-1)/time.Second)))
}

const tooManyGuesses = "Too many wrong tokens: try again later."

// requireToken answers 401 (or 404 when admin is off, 429 while backing
// off) unless r carries the admin token or session: for endpoints
// machines call, such as /_/events and pprof.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.AdminToken == "" {
			s.errorPage(w, r, http.StatusNotFound, "There is nothing at this address.")
			return
		}
		ok, retry := s.authenticate(r)
		switch {
		case retry > 0:
			retryAfter(w, retry)
			s.errorPage(w, r, http.StatusTooManyRequests, tooManyGuesses)
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="broadsheet-admin"`)
			s.errorPage(w, r, http.StatusUnauthorized, "The admin token is missing or wrong.")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, retry := s.authenticate(r)
		switch {
		case retry > 0:
			retryAfter(w, retry)
			s.loginPage(w, r, http.StatusTooManyRequests, tooManyGuesses)
		case !ok:
			msg := ""
			if r.Header.Get("Authorization") != "" || r.Method != http.MethodGet {
				msg = "The admin token is missing or wrong."
			}
			s.loginPage(w, r, http.StatusUnauthorized, msg)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="broadsheet-admin"`)
	s.renderStatus(w, r, status, templates.AdminLogin(msg))
}

func (s *Server) adminLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxAdminForm)
	if err := r.ParseForm(); err != nil {
		s.loginPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	ok, retry := s.guess(r, r.PostForm.Get("token"))
	switch {
	case retry > 0:
		retryAfter(w, retry)
		s.loginPage(w, r, http.StatusTooManyRequests, tooManyGuesses)
		return
	case !ok:
		s.loginPage(w, r, http.StatusUnauthorized, "The admin token is wrong.")
		return
	}
	id, err := s.newSession(r.Context())
	if err != nil {
		Logger(r.Context()).Error("web: admin session not stored", "err", err)
		s.loginPage(w, r, http.StatusServiceUnavailable, "The session could not be stored; try again, or use the token as a Bearer header.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/_/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
		MaxAge: int(sessionTTL.Seconds()),
	})
	http.Redirect(w, r, "/_/admin", http.StatusSeeOther)
}

func (s *Server) adminLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.sessions.Delete(r.Context(), sessionKey(c.Value)); err != nil {
			Logger(r.Context()).Error("web: admin session not deleted", "err", err)
			s.adminFail(w, r, http.StatusServiceUnavailable, "The session could not be ended; try again.")
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/_/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/_/admin", http.StatusSeeOther)
}

// who names the operator for the change log: the X-Admin-User header (set
// by an authenticating proxy, or by a script), else "admin".
func who(r *http.Request) string {
	u := strings.TrimSpace(r.Header.Get("X-Admin-User"))
	if u == "" {
		return "admin"
	}
	if len(u) > 64 {
		u = u[:64]
	}
	return u
}
