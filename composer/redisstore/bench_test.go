package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer/redisstore"
	"github.com/broadsheet/broadsheet/internal/redistest"
)

// BenchmarkMGET2000 is one page level's worth of look-ups: GetMulti of
// 2,000 keys whose values are ~300-byte encoded entries, against a real
// redis-server on loopback. Run with
//
//	go test -run '^$' -bench . -benchmem ./composer/redisstore/
func BenchmarkMGET2000(b *testing.B) {
	srv := redistest.Start(b)
	store, _, _ := newStore(b, srv, redisstore.Options{Timeout: time.Second})
	ctx := context.Background()
	es := entries(2000, 230, time.Hour)
	if err := store.SetMulti(ctx, es); err != nil {
		b.Fatal(err)
	}
	keys := storeKeys(es)
	b.ReportAllocs()
	for b.Loop() {
		got, err := store.GetMulti(ctx, keys)
		if err != nil {
			b.Fatal(err)
		}
		if got[len(got)-1] == nil {
			b.Fatal("miss")
		}
	}
	b.ReportMetric(float64(len(redisstore.Encode(es[0]))), "bytes/entry")
}

// BenchmarkSetMulti2000 is one write-back of 2,000 ~300-byte entries.
func BenchmarkSetMulti2000(b *testing.B) {
	srv := redistest.Start(b)
	store, _, _ := newStore(b, srv, redisstore.Options{Timeout: time.Second})
	ctx := context.Background()
	es := entries(2000, 230, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if err := store.SetMulti(ctx, es); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode is the codec alone on one ~300-byte entry.
func BenchmarkDecode(b *testing.B) {
	data := redisstore.Encode(entries(1, 230, time.Hour)[0])
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := redisstore.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
