package web

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/broadsheet/broadsheet/composer"
)

// relSource is a fragment's source path from the repository root
// ("fragments/score.go"), else its file name alone: the build machine's
// absolute path means nothing to a reader and tells an attacker about the
// machine. Builds with -trimpath (Dockerfile, make build) record
// module-relative paths to begin with.
func relSource(abs string) string {
	if abs == "" {
		return ""
	}
	if i := strings.LastIndex(abs, "/fragments/"); i >= 0 {
		return abs[i+1:]
	}
	return filepath.Base(abs)
}

// sourceURL is where the explorer links a fragment's source: the
// configured browser of the repository, else the composer's own copy when
// the file is on this machine (a development checkout), else nowhere.
func (s *Server) sourceURL(f *composer.Fragment) string {
	rel := relSource(f.Spec.Source)
	switch {
	case rel == "":
		return ""
	case s.opts.SourceURL != "":
		return s.opts.SourceURL + rel
	case sourceReadable(f.Spec.Source):
		return "/_/fragments/" + f.Spec.Name + "/source"
	}
	return ""
}

// sourceReadable reports whether path is a fragment source file on this
// machine: a .go file in a directory named fragments. Only the paths the
// registry recorded are ever read; nothing comes from the request.
func sourceReadable(path string) bool {
	if !strings.HasSuffix(path, ".go") || filepath.Base(filepath.Dir(path)) != "fragments" {
		return false
	}
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Size() < 1<<20
}

// fragmentSource serves a fragment's Go file and, after it, its templ
// markup, as plain text.
func (s *Server) fragmentSource(w http.ResponseWriter, r *http.Request) {
	f := s.comp.Site().Fragments[chi.URLParam(r, "name")]
	if f == nil || !sourceReadable(f.Spec.Source) {
		s.errorPage(w, r, http.StatusNotFound, "This fragment's source is not on this machine.")
		return
	}
	src, err := os.ReadFile(f.Spec.Source)
	if err != nil {
		s.errorPage(w, r, http.StatusNotFound, "This fragment's source is not on this machine.")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write([]byte("// " + relSource(f.Spec.Source) + "\n\n"))
	w.Write(src)
	if markup, err := os.ReadFile(strings.TrimSuffix(f.Spec.Source, ".go") + ".templ"); err == nil {
		w.Write([]byte("\n\n// " + strings.TrimSuffix(relSource(f.Spec.Source), ".go") + ".templ\n\n"))
		w.Write(markup)
	}
}
