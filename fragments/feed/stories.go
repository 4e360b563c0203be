package feed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// Section is a part of the site with its own stories.
type Section struct {
	Slug string // news, world, business, tech, sport, science
	Name string
}

var sections = []Section{
	{"news", "News"},
	{"world", "World"},
	{"business", "Business"},
	{"tech", "Technology"},
	{"sport", "Sport"},
	{"science", "Science"},
}

// Sections returns the sections of the site in menu order. It is static
// reference data: it never waits and needs no context.
func Sections() []Section { return append([]Section(nil), sections...) }

// SectionSlugs returns the section slugs in menu order, for param
// declarations.
func SectionSlugs() []string {
	s := make([]string, len(sections))
	for i, sec := range sections {
		s[i] = sec.Slug
	}
	return s
}

// SectionName returns the display name of a section slug, or the slug.
func SectionName(slug string) string {
	for _, s := range sections {
		if s.Slug == slug {
			return s.Name
		}
	}
	return slug
}

// Story is one article.
type Story struct {
	ID        string // s001…s040
	Headline  string
	Summary   string
	Section   string // a Section slug
	Byline    string
	Published time.Time
	// ImageAlt describes the story's picture; the picture itself is an
	// abstract placeholder drawn from Art.
	ImageAlt string
	// Art holds the shapes of the placeholder picture, in a 160×90 box.
	Art []Shape
	// Body holds the article's paragraphs (shared: do not modify).
	Body []string
}

// Shape is one circle of a placeholder picture.
type Shape struct{ X, Y, R int }

// SectionName returns the display name of the story's section.
func (s Story) SectionName() string { return SectionName(s.Section) }

// storySeed fixes everything about the stories that is not written by hand.
const storySeed = 20240611

// story is the hand-written part of a Story.
type story struct {
	section, headline, summary, alt string
}

var written = []story{
	{"news", "Flood barriers raised along the Thames as storm surge warning extended",
		"Engineers closed eleven gates overnight after forecasters warned of the highest tides in a decade along the estuary.",
		"Grey steel floodgates rising out of a river at dusk"},
	{"world", "Coastal nations agree landmark deal to protect deep-sea coral reefs",
		"Fourteen countries have signed a treaty banning bottom trawling across an area the size of France.",
		"Orange coral on a dark sea floor lit by a diver's torch"},
	{"business", "High street bakery chain to open 120 shops despite rising costs",
		"The company says demand for takeaway breakfasts has outpaced its forecasts for three years running.",
		"A queue of customers outside a brightly lit bakery"},
	{"tech", "City trials bus routes planned by commuters' own journey data",
		"Riders who opt in share anonymised trips, and routes are redrawn every fortnight to match where people go.",
		"A double-decker bus at a stop at night with a digital display"},
	{"sport", "Late penalty save sends Harrow Vale into cup quarter-finals",
		"The goalkeeper guessed right in the 94th minute to preserve a 2-1 win over the holders.",
		"A goalkeeper diving low to his left to push away a penalty"},
	{"science", "Telescope spots water vapour around a planet 120 light years away",
		"Astronomers say the faint signal is the clearest yet from a rocky world in its star's temperate zone.",
		"An artist's impression of a blue planet beside a red star"},
	{"news", "Rail fares to be frozen for a year, transport secretary confirms",
		"Passenger groups welcomed the freeze but warned that cancellations remain the bigger problem.",
		"Commuters walking along a crowded station platform"},
	{"world", "Mountain villages cut off after record snowfall in the Alps",
		"Helicopters are delivering food and medicine to communities where roads are buried under three metres of snow.",
		"A chalet half-buried in deep snow beneath a mountain"},
	{"business", "Interest rates held for third month as inflation edges lower",
		"The central bank signalled that a cut could come in the spring if prices keep easing.",
		"The front of a stone bank building with columns"},
	{"tech", "Smartphone maker recalls 40,000 chargers over overheating fears",
		"Owners are being told to stop using the plugs at once and to claim a free replacement online.",
		"A white phone charger on a wooden desk"},
	{"sport", "Sprinter breaks 30-year-old national record at indoor championships",
		"The 22-year-old crossed the line in 6.49 seconds and then had to wait ten minutes for the photo finish.",
		"A sprinter crossing the finish line with arms raised"},
	{"news", "Hospital waiting lists fall for the first time in two years",
		"Figures show the number of people waiting more than a year for treatment dropped by a fifth.",
		"A nurse walking down a bright hospital corridor"},
	{"world", "Election count enters fourth day as parties trade fraud claims",
		"Observers say the process has been slow but orderly, and urged both sides to wait for the final tally.",
		"Officials counting ballot papers at long tables"},
	{"science", "Ancient wooden causeway found preserved in peat bog",
		"Archaeologists believe the oak walkway is about 4,000 years old and once crossed a flooded valley.",
		"Dark wooden planks emerging from wet brown peat"},
	{"business", "Supermarket price war cuts the cost of a weekly shop by 3%",
		"Analysts say the discounts on fresh food are the deepest they have recorded outside of a holiday season.",
		"Shelves of fruit and vegetables with yellow price labels"},
	{"tech", "Volunteers map every public bench in the country",
		"The open project has logged more than 900,000 benches, and councils are using it to plan new seating.",
		"A wooden bench on a hillside overlooking a town"},
	{"news", "Council approves plan to turn disused docks into 2,000 homes",
		"The scheme includes a school, a riverside park and a ferry stop, and building could start next year.",
		"Cranes above empty warehouses beside a dock"},
	{"world", "Rescue teams reach remote islands after cyclone makes landfall",
		"Aid agencies say clean water is the most urgent need for the thousands whose homes were damaged.",
		"Palm trees bent by strong wind on a grey beach"},
	{"sport", "Captain steps down after a decade leading the national rugby side",
		"He led the team in 97 tests and says he wants to give his successor time before the next World Cup.",
		"A rugby captain holding a trophy in the rain"},
	{"news", "Schools to get funding for free breakfast clubs from September",
		"Head teachers say the money will help, but warned it may not cover the cost of staff.",
		"Children eating breakfast at a long table in a school hall"},
	{"business", "Carmaker to build battery plant creating 3,000 jobs",
		"The factory will supply batteries for two new electric models and open in three years' time.",
		"A robot arm working on a car body in a factory"},
	{"tech", "Regulator opens inquiry into ticket resale algorithms",
		"Fans complained that prices for concerts doubled within minutes of going on sale.",
		"A crowd at a concert holding up their phones"},
	{"world", "Peace talks resume in Geneva after six-month pause",
		"Negotiators from both sides arrived on Sunday, and mediators described the mood as cautious but serious.",
		"Flags outside a conference centre beside a lake"},
	{"science", "Bumblebee numbers rebound in wildflower meadow experiment",
		"Fields left unmown for three summers had four times as many bees as neighbouring grassland.",
		"A bumblebee on a purple wildflower"},
	{"news", "Lifeboat crew rescue 14 from stranded fishing boat",
		"The crew spent five hours in heavy seas before towing the trawler safely into harbour.",
		"An orange lifeboat cutting through high waves"},
	{"sport", "Teenager wins first major title with final-hole birdie",
		"The 19-year-old holed a twelve-foot putt to finish one shot clear of the world number one.",
		"A golfer celebrating on a green as the crowd applauds"},
	{"business", "Airline adds 30 routes as summer bookings hit record",
		"Most of the new routes serve smaller regional airports, which the airline says are cheaper to fly from.",
		"A passenger jet taking off at sunset"},
	{"world", "Capital's new metro line opens after twelve years of construction",
		"The driverless line links the airport to the city centre in 19 minutes and was free to ride on day one.",
		"A sleek train arriving at a brightly lit underground station"},
	{"tech", "Libraries to lend laptops alongside books in pilot scheme",
		"Borrowers will be able to take a laptop home for three weeks, with help available from staff.",
		"Laptops stacked on a library trolley between bookshelves"},
	{"news", "Volunteers plant a million trees along abandoned railway line",
		"The new woodland stretches 40 miles and will become a walking and cycling path.",
		"Rows of young saplings in tubes along a grassy track"},
	{"science", "Deep-sea robot films squid hunting at record depth",
		"The footage, taken more than six kilometres down, surprised researchers who thought squid could not live so deep.",
		"A pale squid glowing in the beam of a submarine light"},
	{"sport", "Batting collapse leaves visitors 67 all out on opening day",
		"Seven wickets fell for 12 runs after lunch as the ball swung under heavy cloud.",
		"A batsman walking off past fielders celebrating a wicket"},
	{"world", "Drought forces farmers to abandon rice harvest in river delta",
		"Salt water has pushed further inland than ever recorded, ruining fields that depend on fresh water.",
		"Cracked dry earth in a rice paddy"},
	{"business", "Pension funds urged to invest more in regional start-ups",
		"A review found that less than one pound in every hundred reaches young companies outside the capital.",
		"A small team working around a table in a converted warehouse"},
	{"news", "Motorway reopens after overnight lorry fire",
		"Drivers faced long delays in both directions while the road surface was repaired.",
		"A motorway at dawn with traffic moving slowly"},
	{"tech", "Artificial intelligence helps radiologists spot fractures faster",
		"In a year-long trial, doctors using the software missed a third fewer broken bones in X-rays.",
		"A doctor looking at an X-ray of a wrist on a screen"},
	{"sport", "Cyclist survives crash to win mountain stage in final kilometre",
		"Bandaged and with a torn jersey, she attacked on the last bend to win by four seconds.",
		"A cyclist climbing a steep mountain road lined with fans"},
	{"world", "Ancient city gates reopen to visitors after restoration",
		"Craftspeople spent five years repairing the carved stone using the techniques of the original builders.",
		"A tall stone gateway with carvings in the evening sun"},
	{"science", "Meteor shower expected to peak tonight under clear skies",
		"Astronomers say the best view will be after midnight, away from street lights, looking north-east.",
		"Streaks of light across a starry sky above hills"},
	{"news", "Museum returns carved panels to the community they were taken from",
		"The panels, removed more than a century ago, will go on display in a new cultural centre.",
		"Intricately carved wooden panels in a museum gallery"},
}

var bylines = []string{
	"Amara Okafor, transport correspondent",
	"Tom Brennan, political editor",
	"Priya Raman, business reporter",
	"Lucas Meyer, technology editor",
	"Grace Whitfield, sports reporter",
	"Dr Helen Sato, science correspondent",
	"Jonas Lindqvist, Europe correspondent",
	"Maria Alves, world affairs reporter",
	"Sam Ofori, economics editor",
	"Kate Munro, Scotland reporter",
	"Owen Price, Wales reporter",
	"Aoife Gallagher, community affairs reporter",
}

// paragraphs are the generic body text of each section, two of which follow
// each story's summary.
var paragraphs = map[string][]string{
	"news": {
		"Local people said they had been expecting the announcement for some weeks, but were still surprised by how quickly things moved.",
		"A spokesperson said further details would be published in the coming days and that residents would be kept informed.",
		"Opposition politicians welcomed the news but asked why it had taken so long.",
		"The decision follows months of campaigning by residents, who gathered more than 20,000 signatures.",
	},
	"world": {
		"Regional leaders called for calm and said they would meet again at the end of the month.",
		"Correspondents in the region say the situation remains uncertain, and the coming week will be decisive.",
		"International organisations have offered support and are sending staff to assist local authorities.",
		"The story has dominated local newspapers and broadcasters since the weekend.",
	},
	"business": {
		"Shares in the company rose in early trading before settling slightly higher by the close.",
		"Economists cautioned that one month's figures should not be read as a trend.",
		"Trade unions said they would be seeking assurances about pay and conditions.",
		"Smaller firms in the sector say they will be watching closely to see whether customers follow.",
	},
	"tech": {
		"Privacy campaigners said they would be watching to make sure data was handled responsibly.",
		"The company said it would publish the results of the trial in full later this year.",
		"Independent experts said the approach was promising but would need to be tested at a larger scale.",
		"Users can find out more and opt out at any time through their account settings.",
	},
	"sport": {
		"The crowd stayed in their seats long after the finish, singing in the rain.",
		"The coach said afterwards that the result was the product of months of hard work on the training ground.",
		"Attention now turns to next week's fixture, which could decide the season.",
		"Former players were quick to praise the performance on social media.",
	},
	"science": {
		"The findings are published in a peer-reviewed journal this week.",
		"Researchers say more observations will be needed before firm conclusions can be drawn.",
		"The team hopes to return next year with better equipment and a larger crew.",
		"Scientists not involved in the study described the results as exciting but cautioned against overstating them.",
	},
}

// storyBase is a Story without its clock-dependent Published time.
type storyBase struct {
	Story
	age time.Duration // how long before the current quarter-hour it was published
}

var stories = buildStories()

func buildStories() []storyBase {
	r := rand.New(rand.NewPCG(storySeed, storySeed>>3))
	out := make([]storyBase, len(written))
	age := 7 * time.Minute
	for i, w := range written {
		art := make([]Shape, 3)
		for j := range art {
			art[j] = Shape{X: 20 + r.IntN(120), Y: 15 + r.IntN(60), R: 12 + r.IntN(30)}
		}
		pool := paragraphs[w.section]
		a := r.IntN(len(pool))
		b := (a + 1 + r.IntN(len(pool)-1)) % len(pool)
		out[i] = storyBase{
			Story: Story{
				ID:       storyID(i + 1),
				Headline: w.headline,
				Summary:  w.summary,
				Section:  w.section,
				Byline:   bylines[r.IntN(len(bylines))],
				ImageAlt: w.alt,
				Art:      art,
				Body:     []string{w.summary, pool[a], pool[b]},
			},
			age: age,
		}
		age += time.Duration(8+r.IntN(25)) * time.Minute
	}
	return out
}

func storyID(i int) string { return fmt.Sprintf("s%03d", i) }

// withTime returns the story as published relative to now: stories keep
// their order and spacing, anchored to the current quarter-hour.
func (b *storyBase) withTime(now time.Time) Story {
	s := b.Story
	s.Published = now.Truncate(15 * time.Minute).Add(-b.age)
	return s
}

// StoryCount is the number of stories in the feed.
func StoryCount() int { return len(stories) }

// Stories returns up to n stories of a section ("" for all) in editorial
// order, most important first.
func (f *Feed) Stories(ctx context.Context, section string, n int) ([]Story, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	now := f.Now()
	var out []Story
	for i := range stories {
		if len(out) >= n {
			break
		}
		if section == "" || stories[i].Section == section {
			out = append(out, stories[i].withTime(now))
		}
	}
	return out, nil
}

// Story returns the story with the given id; ok is false when there is none.
func (f *Feed) Story(ctx context.Context, id string) (s Story, ok bool, err error) {
	if err := f.wait(ctx); err != nil {
		return Story{}, false, err
	}
	for i := range stories {
		if stories[i].ID == id {
			return stories[i].withTime(f.Now()), true, nil
		}
	}
	return Story{}, false, nil
}

// Ranked is a story's place in the most-read list.
type Ranked struct {
	Rank  int
	Reads int // reads in the last hour
	Story Story
}

// MostRead returns the n most read stories. The ranking drifts slowly: it is
// recomputed every five minutes from each story's steady popularity plus a
// smooth random swing.
func (f *Feed) MostRead(ctx context.Context, n int) ([]Ranked, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	now := f.Now()
	bucket := uint64(now.Unix() / 300)
	out := make([]Ranked, len(stories))
	for i := range stories {
		id := stories[i].ID
		base := 2000 + int(hash(id, storySeed)%18000)
		// Interpolate between two hourly swings so that the ranking moves
		// a little every bucket instead of jumping every hour.
		hour, frac := bucket/12, float64(bucket%12)/12
		a := unit(hash(id, hour)) - 0.5
		b := unit(hash(id, hour+1)) - 0.5
		swing := (a*(1-frac) + b*frac) * 12000
		out[i] = Ranked{Reads: max(50, base+int(swing)), Story: stories[i].withTime(now)}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Reads > out[j].Reads })
	out = out[:min(max(n, 0), len(out))]
	for i := range out {
		out[i].Rank = i + 1
	}
	return out, nil
}
