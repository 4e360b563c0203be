package feed

import (
	"context"
	"math"
	"time"
)

// Quote is the latest price of one market index, commodity or currency.
type Quote struct {
	Symbol string
	Name   string
	Value  float64
	// Change is the move since the day's open, in percent.
	Change float64
	// Decimals is how many decimals to show.
	Decimals int
}

type instrument struct {
	symbol, name string
	base, vol    float64 // typical level and daily volatility (fraction)
	decimals     int
}

var instruments = []instrument{
	{"FTSE", "FTSE 100", 8150, 0.012, 0},
	{"DAX", "DAX", 18300, 0.014, 0},
	{"CAC", "CAC 40", 7600, 0.013, 0},
	{"DOW", "Dow Jones", 39200, 0.011, 0},
	{"SPX", "S&P 500", 5250, 0.012, 0},
	{"N225", "Nikkei 225", 38900, 0.015, 0},
	{"BRENT", "Brent crude", 82.4, 0.02, 2},
	{"GOLD", "Gold", 2330, 0.009, 0},
	{"GBPUSD", "£/$", 1.2650, 0.004, 4},
	{"GBPEUR", "£/€", 1.1720, 0.003, 4},
}

// Markets returns the latest quotes. Prices move every minute along a
// smooth random walk and reset to a new open every day.
func (f *Feed) Markets(ctx context.Context) ([]Quote, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	now := f.Now().UTC()
	day := uint64(now.Unix() / 86400)
	minute := float64(now.Sub(now.Truncate(24*time.Hour)) / time.Minute)
	out := make([]Quote, len(instruments))
	for i, in := range instruments {
		open := in.base * (1 + (unit(hash(in.symbol, day))-0.5)*in.vol*4)
		// A sum of a few slow sine waves with random phases looks enough
		// like a trading day, and is the same for everyone at a given time.
		var move float64
		for k := uint64(1); k <= 3; k++ {
			phase := unit(hash(in.symbol, day, k)) * 2 * math.Pi
			move += math.Sin(minute/(90*float64(k))+phase) - math.Sin(phase)
		}
		move += (unit(hash(in.symbol, uint64(now.Unix()/60))) - 0.5) * 0.2
		value := open * (1 + move/3*in.vol)
		out[i] = Quote{
			Symbol:   in.symbol,
			Name:     in.name,
			Value:    value,
			Change:   (value - open) / open * 100,
			Decimals: in.decimals,
		}
	}
	return out, nil
}
