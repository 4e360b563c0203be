package remote

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/broadsheet/broadsheet/composer"
)

// Kind classifies a failed fetch, for counters and logs.
type Kind uint8

// The kinds of failure.
const (
	KindNetwork     Kind = iota // connecting or reading failed
	KindTimeout                 // the call's deadline passed
	KindStatus                  // a non-2xx, non-3xx status
	KindRedirect                // a 3xx status (never followed)
	KindOversized               // the body is over MaxBodyBytes
	KindInvalidUTF8             // the body is not UTF-8
	KindBreakerOpen             // the host's breaker refused the call
	KindBadParams               // the params cannot form a URL
	KindQueued                  // the call's deadline passed while it waited for one of the host's in-flight slots
	KindEncoded                 // the body comes in a Content-Encoding other than identity (never asked for, never decoded)
	KindNotHTML                 // the body is not HTML text: a Content-Type other than HTML or plain text, or a NUL
	nKinds
)

var kindNames = [...]string{"network", "timeout", "status", "redirect", "oversized", "invalid_utf8", "breaker_open", "bad_params", "queued",
	"encoded", "not_html"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Kinds lists every kind, in order.
func Kinds() []Kind {
	out := make([]Kind, nKinds)
	for i := range out {
		out[i] = Kind(i)
	}
	return out
}

// Error is a failed fetch. Its text names the host, the kind and, for a
// status, the code; never anything from the response body.
type Error struct {
	Host   string
	Kind   Kind
	Status int   // for KindStatus and KindRedirect
	Err    error // the underlying error, if any
}

func (e *Error) Error() string {
	switch e.Kind {
	case KindStatus, KindRedirect:
		return fmt.Sprintf("remote: %s: %s %d", e.Host, e.Kind, e.Status)
	}
	if e.Err != nil {
		return fmt.Sprintf("remote: %s: %s: %v", e.Host, e.Kind, e.Err)
	}
	return fmt.Sprintf("remote: %s: %s", e.Host, e.Kind)
}

func (e *Error) Unwrap() error { return e.Err }

// notFound is the error of a 404: like a local fragment's ErrNotFound, it
// makes a primary include's page a 404.
type notFound struct{ e *Error }

func (n notFound) Error() string   { return n.e.Error() }
func (n notFound) Unwrap() []error { return []error{n.e, composer.ErrNotFound} }

// errNotTried tells the breaker about a call that never reached the host
// (it waited for an in-flight slot until its deadline): it counts neither
// way.
var errNotTried = errors.New("remote: not tried")

// hostFailure reports whether err says the host is unwell (the breaker
// counts it as a failure): it could not be reached, its connection broke
// or it broke HTTP (KindNetwork), or it answered 5xx. Anything else is
// the host answering, a success as far as the host's health goes: a 4xx
// (a 429 too: a service may limit one fragment's calls and not its
// others'), a redirect, a bad body, a status outside 100–599 (which has
// no class: the one URL's nonsense, not the host's failure).
func hostFailure(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return true
	}
	switch e.Kind {
	case KindNetwork:
		return true
	case KindStatus:
		return e.Status >= 500 && e.Status <= 599
	}
	return false
}

// notCounted reports whether the breaker should ignore err altogether:
// a call that never reached the host, or one that timed out — the
// slowness of one URL, or of the composer itself on a saturated machine,
// says nothing of the host's health (Envoy's outlier detection likewise
// ejects on errors and 5xx, not on slow responses). A host that accepts
// connections and never answers costs each include its timeout, and each
// key its fragment's fail hold, not every other URL of the host.
func notCounted(err error) bool {
	if err == errNotTried {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Kind == KindTimeout
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
