package web

import (
	"net/http"

	"github.com/go-chi/chi/v5/middleware"
)

// maxRequestID bounds a client's X-Request-Id.
const maxRequestID = 64

// requestID gives the request an id, as chi's middleware.RequestID does,
// but takes the client's X-Request-Id only when it is at most maxRequestID
// bytes of letters, digits and "-_.:/": anything else is replaced by an id
// of ours, so that a client cannot put 60 KB, or text that forges a log
// line, into our logs and response headers.
func requestID(next http.Handler) http.Handler {
	mw := middleware.RequestID(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get(middleware.RequestIDHeader); id != "" && !safeRequestID(id) {
			r.Header.Del(middleware.RequestIDHeader)
		}
		mw.ServeHTTP(w, r)
	})
}

// safeRequestID reports whether id is short and of the safe alphabet.
func safeRequestID(id string) bool {
	if len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/':
		default:
			return false
		}
	}
	return true
}
