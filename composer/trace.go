package composer

import (
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Tracing: the page's span comes from the HTTP layer (otelhttp); the
// composer adds one span per resolved level and one per slow include, under
// it, through the global tracer provider. Without a configured provider
// the tracer is a no-op and nothing here allocates: levels check whether
// the request's span records, and includes are only considered once past
// slowInclude.
var tracer = otel.Tracer("github.com/broadsheet/broadsheet/composer")

// slowInclude is the time past which an include gets a span of its own.
const slowInclude = 20 * time.Millisecond

// traced reports whether the request's context carries a recording span.
func (r *request) traced() bool {
	return trace.SpanFromContext(r.ctx).IsRecording()
}

// levelSpan starts the span of one level's resolution.
func (r *request) levelSpan(nodes int) trace.Span {
	_, span := tracer.Start(r.ctx, "composer.level", trace.WithAttributes(attribute.Int("includes", nodes)))
	return span
}

// includeSpan records a slow include after the fact, from its start to now.
func (r *request) includeSpan(n *node, now time.Time) {
	_, span := tracer.Start(r.ctx, "composer.include "+n.name(),
		trace.WithTimestamp(r.start.Add(n.started)),
		trace.WithAttributes(attribute.String("fragment", n.name()), attribute.String("outcome", n.outcome.String())))
	if n.err != nil {
		span.RecordError(n.err)
	}
	span.End(trace.WithTimestamp(now))
}
