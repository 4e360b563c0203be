package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis names of the bus.
const (
	Stream        = "bs1:events"
	ChangeChannel = "bs1:changed"
	// streamMaxLen bounds the stream (approximately): events are small,
	// and a consumer that is this far behind has lost nothing it needs —
	// its entries have long expired.
	streamMaxLen = 100_000
	// claimIdle is how long an event may sit unacknowledged with a consumer
	// (one that died mid-refresh) before another takes it over.
	claimIdle = 10 * time.Second
)

// RedisBus is the event bus of a deployment on Redis.
//
// Events go in a Redis stream read through one consumer group per
// deployment, so each event is applied by one instance, and none is lost
// while instances restart: the group remembers what it has delivered, an
// instance starting reads everything published since, and events a dead
// instance took but never acknowledged are claimed by another after
// claimIdle. (Pub/sub would lose every event published while no instance
// listened; an event here is a content change, which must not be lost.)
//
// The announcement that a key changed uses pub/sub: every instance running
// must hear it, and one that is not running has no in-process copy to drop.
type RedisBus struct {
	client   redis.UniversalClient
	group    string
	consumer string
	log      *slog.Logger
}

// NewRedisBus returns a bus on client for the deployment named group.
func NewRedisBus(client redis.UniversalClient, group string, log *slog.Logger) *RedisBus {
	if log == nil {
		log = slog.Default()
	}
	host, _ := os.Hostname()
	return &RedisBus{client: client, group: group, consumer: fmt.Sprintf("%s-%d", host, os.Getpid()), log: log}
}

// Publish appends ev to the stream and returns its id.
func (b *RedisBus) Publish(ctx context.Context, ev Event) (string, error) {
	if err := ev.Validate(); err != nil {
		return "", err
	}
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	params, _ := json.Marshal(ev.Params)
	inv := "0"
	if ev.Invalidate {
		inv = "1"
	}
	id, err := b.client.XAdd(ctx, &redis.XAddArgs{
		Stream: Stream,
		MaxLen: streamMaxLen,
		Approx: true,
		Values: []any{"topic", ev.Topic, "params", params, "at", ev.At.UnixNano(), "invalidate", inv},
	}).Result()
	if err != nil {
		return "", fmt.Errorf("events: publish: %w", err)
	}
	return id, nil
}

// Announce tells every instance that key has a new entry.
func (b *RedisBus) Announce(ctx context.Context, fragment, key string, made, at time.Time) error {
	msg := strings.Join([]string{fragment, key, strconv.FormatInt(made.UnixNano(), 10), strconv.FormatInt(at.UnixNano(), 10)}, "\x1f")
	return b.client.Publish(ctx, ChangeChannel, msg).Err()
}

// Run consumes the stream for h until ctx ends, and delivers
// announcements to h. It returns when ctx ends; Redis being away only
// makes it retry.
func (b *RedisBus) Run(ctx context.Context, h *Handler) {
	var wg sync.WaitGroup
	wg.Go(func() { b.listen(ctx, h) })
	wg.Go(func() { b.consume(ctx, h) })
	wg.Wait()
}

// listen applies announcements until ctx ends.
func (b *RedisBus) listen(ctx context.Context, h *Handler) {
	ps := b.client.Subscribe(ctx, ChangeChannel)
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			parts := strings.Split(m.Payload, "\x1f")
			if len(parts) != 4 {
				continue
			}
			made, err1 := strconv.ParseInt(parts[2], 10, 64)
			at, err2 := strconv.ParseInt(parts[3], 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			h.Visible(parts[0], parts[1], time.Unix(0, made), time.Unix(0, at))
		}
	}
}

// consume reads the stream through the group until ctx ends.
func (b *RedisBus) consume(ctx context.Context, h *Handler) {
	ready := false
	start := "0" // first what this consumer took and did not acknowledge
	for ctx.Err() == nil {
		if !ready {
			err := b.client.XGroupCreateMkStream(ctx, Stream, b.group, "0").Err()
			if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
				b.pause(ctx, "create group", err)
				continue
			}
			ready = true
		}
		b.claim(ctx, h)
		res, err := b.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: b.group, Consumer: b.consumer, Streams: []string{Stream, start},
			Count: 512, Block: time.Second,
		}).Result()
		if errors.Is(err, redis.Nil) {
			start = ">"
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), "NOGROUP") {
				ready = false
			}
			b.pause(ctx, "read", err)
			continue
		}
		n := 0
		for _, s := range res {
			for _, m := range s.Messages {
				n++
				b.apply(ctx, h, m)
			}
		}
		if start == "0" && n == 0 {
			start = ">" // the backlog of our own is done
		}
	}
}

// claim takes over events another consumer took and left unacknowledged.
func (b *RedisBus) claim(ctx context.Context, h *Handler) {
	msgs, _, err := b.client.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: Stream, Group: b.group, Consumer: b.consumer, MinIdle: claimIdle, Start: "0", Count: 512,
	}).Result()
	if err != nil {
		return
	}
	for _, m := range msgs {
		b.apply(ctx, h, m)
	}
}

// apply hands one stream entry to h and acknowledges it once applied. An
// entry that does not decode is acknowledged and logged: it will never
// decode.
func (b *RedisBus) apply(ctx context.Context, h *Handler, m redis.XMessage) {
	ev, err := decode(m)
	if err != nil {
		b.log.Warn("events: dropping a malformed event", "id", m.ID, "err", err)
		b.ack(ctx, m.ID)
		return
	}
	h.Handle(ev, func() { b.ack(context.WithoutCancel(ctx), m.ID) })
}

func (b *RedisBus) ack(ctx context.Context, id string) {
	actx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := b.client.XAck(actx, Stream, b.group, id).Err(); err != nil {
		b.log.Debug("events: ack failed (the event will be claimed again)", "id", id, "err", err)
	}
}

// decode reads an event from a stream entry, trusting nothing in it.
func decode(m redis.XMessage) (Event, error) {
	str := func(k string) string {
		s, _ := m.Values[k].(string)
		return s
	}
	ev := Event{ID: m.ID, Topic: str("topic"), Invalidate: str("invalidate") == "1"}
	if p := str("params"); p != "" && p != "null" {
		if len(p) > 8<<10 {
			return ev, errors.New("params too large")
		}
		if err := json.Unmarshal([]byte(p), &ev.Params); err != nil {
			return ev, fmt.Errorf("params: %w", err)
		}
	}
	at, err := strconv.ParseInt(str("at"), 10, 64)
	if err != nil {
		return ev, fmt.Errorf("at: %w", err)
	}
	ev.At = time.Unix(0, at)
	return ev, ev.Validate()
}

func (b *RedisBus) pause(ctx context.Context, what string, err error) {
	if ctx.Err() != nil {
		return
	}
	b.log.Debug("events: "+what+" failed, retrying", "err", err)
	t := time.NewTimer(500 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
