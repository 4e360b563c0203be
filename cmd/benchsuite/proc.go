package main

import (
	"time"

	"github.com/broadsheet/broadsheet/internal/harness"
)

// The processes, ports, memory samples and configuration patches of the
// suite are package harness's (shared with cmd/chaos).

// warmTTLs keeps every fragment of the scores page fresh for the whole run,
// so that "warm" means every include is a fresh hit and no background
// refresh runs mid-measure.
var warmTTLs = map[string]harness.TTL{
	"nav":        {Fresh: 10 * time.Minute, Stale: 20 * time.Minute},
	"scoreboard": {Fresh: 10 * time.Minute, Stale: 20 * time.Minute},
	"score":      {Fresh: 10 * time.Minute, Stale: 20 * time.Minute},
	"footer":     {Fresh: 10 * time.Minute, Stale: 20 * time.Minute},
}

// scoresMissTTLs is warmTTLs with nothing ever fresh or stale for score:
// every score include misses every cache tier, while the scoreboard that
// places them (a primary include) stays warm.
var scoresMissTTLs = map[string]harness.TTL{
	"nav":        {Fresh: 10 * time.Minute, Stale: 20 * time.Minute},
	"scoreboard": {Fresh: 10 * time.Minute, Stale: 20 * time.Minute},
	"score":      {Fresh: 0, Stale: 0},
	"footer":     {Fresh: 10 * time.Minute, Stale: 20 * time.Minute},
}
