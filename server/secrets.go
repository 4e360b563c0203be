package server

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// secretOptions are the flags that read secrets from files, so that no
// secret need be on the command line, which every user of the machine
// can read (ps, /proc/PID/cmdline). The environment (BROADSHEET_ADMIN_TOKEN,
// BROADSHEET_READER_SECRET, BROADSHEET_REDIS) is the other way.
type secretOptions struct {
	adminTokenFile   string
	readerSecretFile string
	// readerPrevious is the reader-cookie key being rotated out: cookies
	// it signed are still accepted, none is signed with it.
	readerPrevious string
	// onCommandLine names the secret flags given as arguments.
	onCommandLine []string
}

// secretFlags names the flags whose values are secrets.
var secretFlags = []string{"admin-token", "reader-secret", "reader-secret-previous", "redis"}

func addSecretFlags(fs *flag.FlagSet, o *secretOptions) {
	fs.StringVar(&o.adminTokenFile, "admin-token-file", "", "read the admin token from this file (its first line), instead of -admin-token")
	fs.StringVar(&o.readerSecretFile, "reader-secret-file", "", "read the reader-cookie keys from this file: the first line signs, a second line (the previous key) is still accepted; instead of -reader-secret and -reader-secret-previous")
	fs.StringVar(&o.readerPrevious, "reader-secret-previous", "", "previous reader-cookie key, still accepted while cookies it signed expire (rotation); never used to sign")
}

// noteCommandLine records which secret flags fs was given as arguments.
func (o *secretOptions) noteCommandLine(fs *flag.FlagSet) {
	fs.Visit(func(f *flag.Flag) {
		for _, s := range secretFlags {
			if f.Name == s && f.Value.String() != "" && !(s == "redis" && !strings.Contains(f.Value.String(), "@")) {
				o.onCommandLine = append(o.onCommandLine, "-"+s)
			}
		}
	})
}

// loadSecrets reads the secret files into o. A secret given both ways is
// an error, as is an empty file.
func (o *options) loadSecrets() error {
	if o.adminTokenFile != "" {
		if o.adminToken != "" {
			return errors.New("-admin-token-file: -admin-token is set too; give one")
		}
		lines, err := readSecretFile(o.adminTokenFile, "-admin-token-file")
		if err != nil {
			return err
		}
		o.adminToken = lines[0]
	}
	if o.readerSecretFile != "" {
		if o.readerSecret != "" || o.readerPrevious != "" {
			return errors.New("-reader-secret-file: -reader-secret or -reader-secret-previous is set too; give one")
		}
		lines, err := readSecretFile(o.readerSecretFile, "-reader-secret-file")
		if err != nil {
			return err
		}
		o.readerSecret = lines[0]
		if len(lines) > 1 {
			o.readerPrevious = lines[1]
		}
	}
	if o.readerPrevious != "" && o.readerSecret == "" {
		return errors.New("-reader-secret-previous: set -reader-secret too (the key that signs)")
	}
	return nil
}

// readSecretFile returns the file's non-empty lines, trimmed.
func readSecretFile(path, flagName string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	var lines []string
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: %s is empty", flagName, path)
	}
	return lines, nil
}

// warnCommandLine says which secrets were given as arguments.
func (o *secretOptions) warnCommandLine(log *slog.Logger) {
	if len(o.onCommandLine) > 0 {
		log.Warn("composer: secrets on the command line are visible to every user of this machine; use the environment (BROADSHEET_…) or the -…-file flags", "flags", strings.Join(o.onCommandLine, " "))
	}
}

// scrub replaces every secret in msg, so that an error quoting its input
// (a URL that does not parse, say) does not print one.
func scrub(msg string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}

// urlSecrets returns the user information of URL raw and its password,
// found without parsing raw (which may not parse), for scrub.
func urlSecrets(raw string) []string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return nil
	}
	rest := raw[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return nil
	}
	info := rest[:at]
	out := []string{info}
	if _, pw, ok := strings.Cut(info, ":"); ok {
		out = append(out, pw)
	}
	return out
}
