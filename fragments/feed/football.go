package feed

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// MaxMatches is the number of matches in the simulated league, m0001 to
// m20000.
const MaxMatches = 20000

// League is one division of the simulated league. Match i (from 1) belongs
// to League i mod len(Leagues()).
type League struct {
	Slug string
	Name string
}

var leagues = []League{
	{"premier", "Premier Division"},
	{"first", "First Division"},
	{"second", "Second Division"},
	{"third", "Third Division"},
	{"national", "National League"},
}

// Leagues returns the divisions in order. It is static reference data.
func Leagues() []League { return append([]League(nil), leagues...) }

// LeagueSlugs returns the division slugs in order, for param declarations.
func LeagueSlugs() []string {
	s := make([]string, len(leagues))
	for i, l := range leagues {
		s[i] = l.Slug
	}
	return s
}

// MatchesPerLeague is the number of matches in each division.
const MatchesPerLeague = MaxMatches / 5

// Status is where a match stands.
type Status string

// The statuses.
const (
	Scheduled Status = "scheduled"
	FirstHalf Status = "first-half"
	HalfTime  Status = "half-time"
	Second    Status = "second-half"
	FullTime  Status = "full-time"
)

// Match is one fixture and its live score.
type Match struct {
	ID         string // m0001…m20000
	League     League
	Home, Away string
	HomeGoals  int
	AwayGoals  int
	KickOff    time.Time
	Minute     int // 0 before kick-off, 1…90 in play, 45 at half time, 90 at full time
	Status     Status
}

// Live reports whether the ball is in play or it is half time.
func (m Match) Live() bool {
	return m.Status == FirstHalf || m.Status == HalfTime || m.Status == Second
}

// Clock returns the match clock as shown on a scoreboard: the kick-off
// time, a minute, HT or FT.
func (m Match) Clock() string {
	switch m.Status {
	case Scheduled:
		return m.KickOff.UTC().Format("15:04")
	case HalfTime:
		return "HT"
	case FullTime:
		return "FT"
	}
	return strconv.Itoa(m.Minute) + "′"
}

// The simulated match clock. One match minute lasts tick of real time; each
// fixture repeats every cycle ticks: a ten-minute countdown, two halves of
// 45 with a three-minute break, then the final score stays up for a while.
// Each match is offset in the cycle by its hash, so at any moment some
// matches are about to start, most are in play and some have finished.
const (
	tick         = 10 * time.Second
	cycle        = 120
	kickOffTick  = 10
	halfTimeTick = kickOffTick + 45
	secondTick   = halfTimeTick + 3
	fullTimeTick = secondTick + 45
)

var (
	towns = []string{
		"Harrow Vale", "Ashby", "Kingsbridge", "Marlow", "Redcastle", "Oakham",
		"Thornbury", "Wexley", "Castleford", "Dunmore", "Elmstead", "Fairhaven",
		"Glenrothy", "Hawksmoor", "Ivybridge", "Kelso", "Lanford", "Millbrook",
		"Newhaven", "Otterburn", "Pendle", "Queensferry", "Rothwell", "Stanmore",
		"Tarbury", "Upton", "Vernham", "Wakeley", "Yardley", "Ambleside",
		"Bexford", "Carrow", "Dalby", "Eastwick", "Frome", "Grantley",
		"Holmfirth", "Inverloch", "Juniper Hill", "Knaresby", "Ludlow", "Morecombe",
		"Northam", "Ormsby", "Porthallow", "Radley", "Saltburn", "Tiverley",
	}
	suffixes = []string{
		"United", "City", "Town", "Rovers", "Athletic", "Wanderers",
		"Albion", "County", "Rangers", "Harriers", "Borough", "Villa",
	}
	// goalOdds is the cumulative chance of a side scoring 0, 1, 2… goals.
	goalOdds = []float64{0.27, 0.62, 0.84, 0.95, 0.99, 1}
)

// teamCount is the number of distinct team names.
var teamCount = uint64(len(towns) * len(suffixes))

// teams are the team names, by number: "Harrow Vale United", …
var teams = func() []string {
	t := make([]string, 0, teamCount)
	for _, town := range towns {
		for _, suffix := range suffixes {
			t = append(t, town+" "+suffix)
		}
	}
	return t
}()

func team(i uint64) string { return teams[i%teamCount] }

// matchID is "m" and i with at least four digits: m0042, m12345.
func matchID(i int) string {
	var buf [8]byte
	b := append(buf[:0], 'm')
	for p := 1000; p > 1 && i < p; p /= 10 {
		b = append(b, '0')
	}
	return string(strconv.AppendInt(b, int64(i), 10))
}

// LeagueOf returns the division of the match with the given id; ok is
// false when there is no such match.
func LeagueOf(id string) (l League, ok bool) {
	i := parseMatchID(id)
	if i == 0 {
		return League{}, false
	}
	return leagues[(i-1)%len(leagues)], true
}

// parseMatchID returns the number of a canonical match id (as matchID
// writes it), or 0.
func parseMatchID(id string) int {
	digits, ok := strings.CutPrefix(id, "m")
	if !ok || len(digits) < 4 || len(digits) > 5 || (len(digits) == 5 && digits[0] == '0') {
		return 0
	}
	i := 0
	for j := 0; j < len(digits); j++ {
		c := digits[j]
		if c < '0' || c > '9' {
			return 0
		}
		i = i*10 + int(c-'0')
	}
	if i < 1 || i > MaxMatches {
		return 0
	}
	return i
}

// matchAt computes match number i at time now.
func matchAt(i int, now time.Time) Match {
	id := matchID(i)
	h := hash(id)
	home := (h >> 8) % teamCount
	away := (home + 1 + (h>>32)%(teamCount-1)) % teamCount
	m := Match{
		ID:     id,
		League: leagues[(i-1)%len(leagues)],
		Home:   team(home),
		Away:   team(away),
	}

	ticks := uint64(now.Unix()/int64(tick/time.Second)) + h%cycle
	round, pos := ticks/cycle, int(ticks%cycle)
	m.KickOff = now.Truncate(tick).Add(time.Duration(kickOffTick-pos) * tick)
	switch {
	case pos < kickOffTick:
		m.Status, m.Minute = Scheduled, 0
	case pos < halfTimeTick:
		m.Status, m.Minute = FirstHalf, pos-kickOffTick+1
	case pos < secondTick:
		m.Status, m.Minute = HalfTime, 45
	case pos < fullTimeTick:
		m.Status, m.Minute = Second, pos-secondTick+46
	default:
		m.Status, m.Minute = FullTime, 90
	}
	m.HomeGoals = goalsBy(id, round, 0, m.Minute)
	m.AwayGoals = goalsBy(id, round, 1, m.Minute)
	return m
}

// goalsBy returns the goals side (0 home, 1 away) has scored by minute in
// the given round of match id.
func goalsBy(id string, round uint64, side uint64, minute int) int {
	if minute == 0 {
		return 0
	}
	r := unit(hash(id, round, side))
	total := 0
	for total < len(goalOdds)-1 && r >= goalOdds[total] {
		total++
	}
	n := 0
	for k := range total {
		if 1+int(hash(id, round, side, uint64(k))%90) <= minute {
			n++
		}
	}
	return n
}

// Matches returns the first n matches (m0001…), n capped at MaxMatches.
func (f *Feed) Matches(ctx context.Context, n int) ([]Match, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	n = min(max(n, 0), MaxMatches)
	now := f.Now()
	out := make([]Match, n)
	for i := range out {
		out[i] = matchAt(i+1, now)
	}
	return out, nil
}

// MatchIDs returns the ids of the first n matches of a league ("" for every
// league), n capped at the number of matches there are. It is cheaper than
// Matches: it computes no scores.
func (f *Feed) MatchIDs(ctx context.Context, league string, n int) ([]string, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	first, step := 1, 1
	if league != "" {
		first, step = 0, len(leagues)
		for i, l := range leagues {
			if l.Slug == league {
				first = i + 1
			}
		}
		if first == 0 {
			return nil, nil
		}
	}
	ids := make([]string, 0, min(max(n, 0), MaxMatches))
	for i := first; i <= MaxMatches && len(ids) < n; i += step {
		ids = append(ids, matchID(i))
	}
	return ids, nil
}

// LiveMatches returns up to n matches of a league ("" for every league) that
// are in play now, in id order.
func (f *Feed) LiveMatches(ctx context.Context, league string, n int) ([]Match, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	now := f.Now()
	var out []Match
	for i := 1; i <= MaxMatches && len(out) < n; i++ {
		if league != "" && leagues[(i-1)%len(leagues)].Slug != league {
			continue
		}
		if m := matchAt(i, now); m.Live() {
			out = append(out, m)
		}
	}
	return out, nil
}

// Match returns the match with the given id; ok is false when there is none.
func (f *Feed) Match(ctx context.Context, id string) (m Match, ok bool, err error) {
	if err := f.wait(ctx); err != nil {
		return Match{}, false, err
	}
	i := parseMatchID(id)
	if i == 0 {
		return Match{}, false, nil
	}
	return matchAt(i, f.Now()), true, nil
}

// FollowedTeams returns the teams a reader follows in the demo: three,
// derived from the reader's name, so that each reader has their own.
func (f *Feed) FollowedTeams(ctx context.Context, reader string) ([]string, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	h := hash("follows:" + reader)
	return []string{team(h), team(h >> 20), team(h >> 40)}, nil
}
