package feed

import (
	"context"
	"math"
	"time"
)

// City is a place with weather.
type City struct {
	Slug    string // london, new-york, …
	Name    string
	Country string
	// UTCOffset is the city's standard offset from UTC, in minutes.
	UTCOffset int

	base, swing, wet float64 // mean °C, daily half-range, chance of rain
}

var cities = []City{
	{Slug: "london", Name: "London", Country: "United Kingdom", base: 12, swing: 4, wet: 0.45},
	{Slug: "edinburgh", Name: "Edinburgh", Country: "United Kingdom", base: 9, swing: 4, wet: 0.5},
	{Slug: "cardiff", Name: "Cardiff", Country: "United Kingdom", base: 11, swing: 4, wet: 0.55},
	{Slug: "belfast", Name: "Belfast", Country: "United Kingdom", base: 10, swing: 3, wet: 0.55},
	{Slug: "reykjavik", Name: "Reykjavík", Country: "Iceland", base: 3, swing: 3, wet: 0.5},
	{Slug: "paris", Name: "Paris", Country: "France", UTCOffset: 60, base: 13, swing: 5, wet: 0.35},
	{Slug: "berlin", Name: "Berlin", Country: "Germany", UTCOffset: 60, base: 10, swing: 5, wet: 0.35},
	{Slug: "madrid", Name: "Madrid", Country: "Spain", UTCOffset: 60, base: 16, swing: 7, wet: 0.15},
	{Slug: "rome", Name: "Rome", Country: "Italy", UTCOffset: 60, base: 17, swing: 6, wet: 0.2},
	{Slug: "cairo", Name: "Cairo", Country: "Egypt", UTCOffset: 120, base: 24, swing: 7, wet: 0.02},
	{Slug: "mumbai", Name: "Mumbai", Country: "India", UTCOffset: 330, base: 29, swing: 4, wet: 0.3},
	{Slug: "tokyo", Name: "Tokyo", Country: "Japan", UTCOffset: 540, base: 16, swing: 5, wet: 0.35},
	{Slug: "sydney", Name: "Sydney", Country: "Australia", UTCOffset: 600, base: 19, swing: 5, wet: 0.25},
	{Slug: "rio-de-janeiro", Name: "Rio de Janeiro", Country: "Brazil", UTCOffset: -180, base: 25, swing: 5, wet: 0.3},
	{Slug: "new-york", Name: "New York", Country: "United States", UTCOffset: -300, base: 13, swing: 6, wet: 0.3},
	{Slug: "toronto", Name: "Toronto", Country: "Canada", UTCOffset: -300, base: 8, swing: 6, wet: 0.3},
}

// Cities returns every city with weather, in display order. It is static
// reference data: it never waits and needs no context.
func Cities() []City { return append([]City(nil), cities...) }

// CityBySlug returns the city with the given slug.
func CityBySlug(slug string) (City, bool) {
	for _, c := range cities {
		if c.Slug == slug {
			return c, true
		}
	}
	return City{}, false
}

// Condition is a kind of weather, usable as a CSS class and icon name.
type Condition string

// The conditions.
const (
	Sunny        Condition = "sunny"
	Clear        Condition = "clear" // sunny, at night
	PartlyCloudy Condition = "partly-cloudy"
	Cloudy       Condition = "cloudy"
	Fog          Condition = "fog"
	LightRain    Condition = "light-rain"
	HeavyRain    Condition = "heavy-rain"
	Thunder      Condition = "thunder"
	Snow         Condition = "snow"
)

var conditionLabels = map[Condition]string{
	Sunny:        "Sunny",
	Clear:        "Clear",
	PartlyCloudy: "Sunny intervals",
	Cloudy:       "Cloudy",
	Fog:          "Fog",
	LightRain:    "Light rain",
	HeavyRain:    "Heavy rain",
	Thunder:      "Thundery showers",
	Snow:         "Snow",
}

// Label returns the condition in words.
func (c Condition) Label() string {
	if l, ok := conditionLabels[c]; ok {
		return l
	}
	return string(c)
}

// Weather is the current weather of a city and its forecast.
type Weather struct {
	City      City
	Temp      int // °C
	FeelsLike int // °C
	Condition Condition
	Wind      int    // km/h
	WindDir   string // N, NE, …
	Humidity  int    // %
	// Updated is when the observation was made (the start of its minute).
	Updated time.Time
	// Forecast holds the next three days (shared: do not modify).
	Forecast []Day
}

// Day is one day of a forecast.
type Day struct {
	Date       time.Time // midnight, city time
	High, Low  int       // °C
	Condition  Condition
	RainChance int // %
}

var compass = []string{"N", "NE", "E", "SE", "S", "SW", "W", "NW"}

// Weather returns the weather of the city with the given slug; ok is false
// when there is no such city. The observation changes every minute, the
// conditions every five and the forecast a little every half hour.
func (f *Feed) Weather(ctx context.Context, slug string) (w Weather, ok bool, err error) {
	if err := f.wait(ctx); err != nil {
		return Weather{}, false, err
	}
	c, ok := CityBySlug(slug)
	if !ok {
		return Weather{}, false, nil
	}
	return c.weatherAt(f.Now()), true, nil
}

func (c City) weatherAt(now time.Time) Weather {
	zone := time.FixedZone(c.Name, c.UTCOffset*60)
	local := now.In(zone)
	minute := uint64(now.Unix() / 60)
	hour := float64(local.Hour()) + float64(local.Minute())/60

	noise := (unit(hash(c.Slug, minute)) - 0.5) * 2
	temp := round(c.base + c.swing*math.Sin(2*math.Pi*(hour-9)/24) + noise)
	cond := c.condition(hash(c.Slug, minute/5), temp)
	if cond == Sunny && (hour < 6 || hour >= 20) {
		cond = Clear
	}
	wind := 4 + int(hash(c.Slug, minute, 1)%28)
	if cond == Thunder || cond == HeavyRain {
		wind += 15
	}
	humidity := 40 + int(hash(c.Slug, minute, 2)%40)
	if cond == LightRain || cond == HeavyRain || cond == Thunder || cond == Fog {
		humidity = min(98, humidity+20)
	}
	w := Weather{
		City:      c,
		Temp:      temp,
		FeelsLike: temp - wind/12,
		Condition: cond,
		Wind:      wind,
		WindDir:   compass[hash(c.Slug, minute/10, 3)%uint64(len(compass))],
		Humidity:  humidity,
		Updated:   now.Truncate(time.Minute),
	}
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, zone)
	revision := uint64(now.Unix() / 1800)
	for d := 1; d <= 3; d++ {
		date := midnight.AddDate(0, 0, d)
		day := uint64(date.Unix() / 86400)
		drift := int(hash(c.Slug, day, revision)%3) - 1
		high := round(c.base+c.swing+(unit(hash(c.Slug, day, 4))-0.5)*6) + drift
		low := high - int(c.swing*2) - int(hash(c.Slug, day, 5)%3)
		rain := int(c.wet * 100 * (0.5 + unit(hash(c.Slug, day, revision, 6))))
		w.Forecast = append(w.Forecast, Day{
			Date:       date,
			High:       high,
			Low:        low,
			Condition:  c.condition(hash(c.Slug, day, 7), low),
			RainChance: min(95, rain),
		})
	}
	return w
}

// condition picks a condition from h with the city's chance of rain; rain
// turns to snow at or below 1 °C.
func (c City) condition(h uint64, temp int) Condition {
	r := unit(h)
	var cond Condition
	switch {
	case r < c.wet*0.45:
		cond = LightRain
	case r < c.wet*0.7:
		cond = HeavyRain
	case r < c.wet*0.8:
		cond = Thunder
	case r < c.wet*0.8+0.04:
		cond = Fog
	case r < 0.55:
		cond = Cloudy
	case r < 0.8:
		cond = PartlyCloudy
	default:
		cond = Sunny
	}
	if temp <= 1 && (cond == LightRain || cond == HeavyRain) {
		cond = Snow
	}
	return cond
}

func round(x float64) int { return int(math.Round(x)) }
