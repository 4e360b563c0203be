package harness

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Metrics is one scrape of a Prometheus text exposition: series (the
// metric name with its labels as exposed, e.g.
// `broadsheet_cache_lookups_total{tier="redis",result="hit"}`) → value.
type Metrics map[string]float64

// Scrape fetches url (a /metrics endpoint) and parses its samples.
func Scrape(ctx context.Context, client *http.Client, url string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain") // the plain text format, not OpenMetrics
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("harness: scrape %s: %s", url, resp.Status)
	}
	m := Metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// name{labels} value [timestamp]; label values may hold spaces.
		cut := strings.LastIndexByte(line, '}')
		if cut < 0 {
			cut = strings.IndexByte(line, ' ') - 1
		}
		if cut < 0 || cut+2 > len(line) {
			continue
		}
		series := line[:cut+1]
		fields := strings.Fields(line[cut+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || math.IsNaN(v) {
			continue
		}
		m[series] = v
	}
	return m, sc.Err()
}

// Get returns the value of series, 0 when absent.
func (m Metrics) Get(series string) float64 { return m[series] }

// Sum adds every series of the metric name whose labels include each of
// the given `k="v"` pairs.
func (m Metrics) Sum(name string, labels ...string) float64 {
	var s float64
	for series, v := range m {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
				break
			}
		}
		if ok {
			s += v
		}
	}
	return s
}
