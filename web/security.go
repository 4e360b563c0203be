package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
)

type nonceKey struct{}

// NonceFrom returns the request's Content-Security-Policy nonce: the one
// inline scripts must carry to run.
func NonceFrom(ctx context.Context) string {
	s, _ := ctx.Value(nonceKey{}).(string)
	return s
}

// securityHeaders sets the headers every response carries: a
// Content-Security-Policy allowing this site's own scripts and inline
// scripts with this request's nonce only (an injected <script> cannot
// run), no framing, no MIME sniffing, and a referrer policy that keeps
// paths to ourselves.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [16]byte
		_, _ = rand.Read(b[:])
		nonce := base64.RawURLEncoding.EncodeToString(b[:])
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'nonce-"+nonce+"'; "+
			"style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "+
			"form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey{}, nonce)))
	})
}
