package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/redis/go-redis/v9"

	"github.com/broadsheet/broadsheet/loadtest"
)

// commandStats returns the calls per command from INFO commandstats.
func commandStats(ctx context.Context, c *redis.Client) (map[string]int64, error) {
	s, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	return parseCommandStats(s), nil
}

// parseCommandStats parses lines like
// "cmdstat_mget:calls=12,usec=345,usec_per_call=28.75,...".
func parseCommandStats(info string) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					out[strings.TrimPrefix(name, "cmdstat_")] = n
				}
			}
		}
	}
	return out
}

// statsDelta returns after−before per command, without the commands the
// suite itself sends (info, scan, ping) and without zero deltas.
func statsDelta(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for name, n := range after {
		switch name {
		case "info", "scan", "ping", "client|setinfo", "hello", "client|setname":
			continue
		}
		if n -= before[name]; n != 0 {
			d[name] = n
		}
	}
	return d
}

// pageKeys lists the entry keys in Redis (bs1:VERSION:fragment?params),
// split into the page's two levels: level 2 holds the score includes, level
// 1 everything else (nav, scoreboard, footer). Locks, generations and other
// bookkeeping keys under bs1: are left out.
func pageKeys(ctx context.Context, c *redis.Client) (level1, level2 []string, err error) {
	iter := c.Scan(ctx, 0, "bs1:*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		parts := strings.SplitN(k, ":", 3)
		if len(parts) != 3 || !strings.Contains(parts[2], "?") {
			continue // bs1:lock:…, bs1:gen:…, …
		}
		if strings.HasPrefix(parts[2], "score?") {
			level2 = append(level2, k)
		} else {
			level1 = append(level1, k)
		}
	}
	if err := iter.Err(); err != nil {
		return nil, nil, err
	}
	slices.Sort(level1)
	slices.Sort(level2)
	return level1, level2, nil
}

// mgetResult is the bare-MGET baseline: one "page" is an MGET of level 1's
// keys then an MGET of level 2's, as the composer does, with go-redis
// decoding the replies to strings.
type mgetResult struct {
	Keys       int                  `json:"keys"`
	Pages      int                  `json:"pages"`
	Errors     int                  `json:"errors"`
	Throughput float64              `json:"pages_per_s"`
	Page       loadtest.Percentiles `json:"page"`
	Level2     loadtest.Percentiles `json:"level2_mget"`
}

// benchMGET times bare MGETs of level1 then level2 at concurrency c for d
// (or until max pages).
func benchMGET(ctx context.Context, client *redis.Client, level1, level2 []string, c int, d time.Duration, maxPages int) mgetResult {
	var (
		mu     sync.Mutex
		page   = hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
		lvl2   = hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
		pages  int
		errs   int
		wg     sync.WaitGroup
		start  = time.Now()
		finish = start.Add(d)
	)
	for range c {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(finish) {
				t0 := time.Now()
				var err error
				if len(level1) > 0 {
					err = client.MGet(ctx, level1...).Err()
				}
				t1 := time.Now()
				if err == nil {
					err = client.MGet(ctx, level2...).Err()
				}
				t2 := time.Now()
				mu.Lock()
				if maxPages > 0 && pages+errs >= maxPages {
					mu.Unlock()
					return
				}
				if err != nil {
					errs++
				} else {
					pages++
					_ = page.RecordValue(max(t2.Sub(t0).Microseconds(), 1))
					_ = lvl2.RecordValue(max(t2.Sub(t1).Microseconds(), 1))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	return mgetResult{
		Keys:       len(level1) + len(level2),
		Pages:      pages,
		Errors:     errs,
		Throughput: float64(pages) / elapsed.Seconds(),
		Page:       hdrPercentiles(page),
		Level2:     hdrPercentiles(lvl2),
	}
}

func hdrPercentiles(h *hdrhistogram.Histogram) loadtest.Percentiles {
	if h.TotalCount() == 0 {
		return loadtest.Percentiles{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return loadtest.Percentiles{
		P50:  us(h.ValueAtQuantile(50)),
		P90:  us(h.ValueAtQuantile(90)),
		P99:  us(h.ValueAtQuantile(99)),
		Max:  us(h.Max()),
		Mean: time.Duration(h.Mean() * float64(time.Microsecond)),
	}
}

// formatCmds writes command counts per page, largest first: "mget 2.0, set 0.1".
func formatCmds(perPage map[string]float64) string {
	names := slices.Collect(maps.Keys(perPage))
	slices.SortFunc(names, func(a, b string) int {
		if perPage[a] != perPage[b] {
			if perPage[a] > perPage[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.2f", n, perPage[n]))
	}
	return strings.Join(parts, ", ")
}
