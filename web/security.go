package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"github.com/broadsheet/broadsheet/web/csp"
)

type nonceKey struct{}

// NonceFrom returns the request's Content-Security-Policy nonce: the one
// inline scripts must carry to run.
func NonceFrom(ctx context.Context) string {
	s, _ := ctx.Value(nonceKey{}).(string)
	return s
}

// securityHeaders returns the middleware that sets the headers every
// response carries: policy's Content-Security-Policy (the site's own
// scripts, inline scripts with this request's nonce only — an injected
// <script> cannot run —, the sources site.yaml adds and the origins of
// the fragments' assets; see package csp), no framing, no MIME sniffing,
// and a referrer policy that keeps paths to ourselves.
func securityHeaders(policy *csp.Policy) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b [16]byte
			_, _ = rand.Read(b[:])
			nonce := base64.RawURLEncoding.EncodeToString(b[:])
			h := w.Header()
			h.Set("Content-Security-Policy", policy.Header(nonce))
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
			h.Set("X-Frame-Options", "DENY")
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey{}, nonce)))
		})
	}
}
