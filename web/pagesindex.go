package web

import (
	"net/http"
	"strings"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/templates"
)

// pagesIndex serves /_/pages: a link to each configured page, its path
// filled with example values.
func (s *Server) pagesIndex(w http.ResponseWriter, r *http.Request) {
	site := s.comp.Site()
	links := make([]templates.PageLink, 0, len(site.Pages))
	for _, p := range site.Pages {
		links = append(links, templates.PageLink{Name: p.Name, Path: p.Path, Title: p.Title, Example: exampleURL(site, p)})
	}
	s.render(w, r, templates.PagesIndex(links))
}

// exampleURL fills a page path's placeholders with the example params of
// the fragments they feed, so that /weather/{city} links to /weather/london.
func exampleURL(site *composer.Site, p *composer.Page) string {
	path := p.Path
	for strings.Contains(path, "{") {
		i := strings.Index(path, "{")
		j := strings.Index(path[i:], "}")
		if j < 0 {
			break
		}
		name := path[i+1 : i+j]
		if k := strings.IndexByte(name, ':'); k >= 0 {
			name = name[:k]
		}
		val := "example"
	find:
		for _, inc := range p.Includes {
			for _, b := range inc.Params {
				if b.From == "route" && b.Value == name {
					if f := site.Fragments[inc.Fragment]; f != nil && f.Spec.Example[b.Name] != "" {
						val = f.Spec.Example[b.Name]
						break find
					}
				}
			}
		}
		path = path[:i] + val + path[i+j+1:]
	}
	return path
}
