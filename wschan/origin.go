package wschan

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// placeholder matches the {{word}} slots of AllowedOrigin.
var placeholder = regexp.MustCompile(`\{\{\w*\}\}`)

// hostMark stands for the request's Host in a compiled origin pattern and
// in the Origin it is matched against. A header value cannot hold a NUL
// (net/http answers 400 to one), so the mark never meets a real character.
const hostMark = "\x00"

// maxHostTries bounds the places in one Origin where the Host is tried.
const maxHostTries = 8

// originPolicy decides whether a request's Origin is allowed, with work and
// memory bounded by the Origin and Host, nothing kept per request: the
// default policy is two string comparisons, and a user pattern is compiled
// once. The Host takes part through hostMark: each placeholder of the
// pattern and each occurrence of the Host in the Origin become the mark, so
// the pattern sees the Host as one literal (the original spliced it in
// unquoted, its dots matching anything). With one placeholder, each place
// the Host occurs is tried on its own (up to maxHostTries), which gives the
// result of the pattern with the Host quoted in unless the pattern's other
// parts must match the Host's own text; past that, every occurrence is
// marked at once, which can only reject more.
type originPolicy struct {
	// byDefault is the default pattern: the Origin must be exactly
	// "http://" or "https://" followed by the Host.
	byDefault bool
	// re is a user pattern, searched anywhere in the Origin as the
	// original did; noHost is the same pattern for a request without a
	// Host, whose placeholders stand for nothing.
	re, noHost *regexp.Regexp
	slots      int // how many placeholders the pattern has
}

// newOriginPolicy compiles pattern once. An invalid pattern panics with a
// clear message: the original silently rejected every request instead.
// warn is called once when a user pattern is not anchored at both ends, so
// that it admits every Origin that merely contains a match.
func newOriginPolicy(pattern string, warn func(format string, args ...any)) *originPolicy {
	if pattern == defaultAllowedOrigin {
		return &originPolicy{byDefault: true}
	}
	p := &originPolicy{slots: len(placeholder.FindAllStringIndex(pattern, -1))}
	var err error
	if p.re, err = regexp.Compile(placeholder.ReplaceAllLiteralString(pattern, hostMark)); err == nil {
		p.noHost, err = regexp.Compile(placeholder.ReplaceAllLiteralString(pattern, ""))
	}
	if err != nil {
		panic(fmt.Sprintf("sockets: invalid AllowedOrigin %q: %v", pattern, err))
	}
	if !anchored(pattern) {
		admits, example := originAdvice(pattern, p.noHost)
		warn("AllowedOrigin %q is searched anywhere in the Origin header, as the original package did: it admits %s. "+
			"To admit only the sites you mean, anchor a pattern that names them whole, scheme included, such as %q",
			pattern, admits, example)
	}
	return p
}

// originAdvice says, for an unanchored pattern (compiled as re, its
// placeholders empty), what it admits and a correct anchored pattern to
// take its place.
func originAdvice(pattern string, re *regexp.Regexp) (admits, example string) {
	broad := true // it admits every browser: the example names sites
	switch {
	case re.MatchString(""):
		admits = `every request, with any Origin header or none (".*" says so on purpose)`
	case re.MatchString("x") && re.MatchString("/") && re.MatchString("-"):
		admits = `any Origin containing a character: every browser's, "null" included`
	default:
		broad = false
		admits = "every Origin that contains a match anywhere, look-alikes included " +
			`(such as "https://evil.example/?" followed by a match)`
	}
	switch {
	case placeholder.MatchString(pattern):
		example = "^https?://{{host}}$"
	case broad:
		example = `^https://(www\.)?example\.com$`
	case strings.Contains(pattern, "://"):
		example = "^(?:" + pattern + ")$"
	default:
		example = "^https://(?:" + pattern + ")$"
	}
	return admits, example
}

// anchored reports whether pattern can only match a whole string: it starts
// with ^ (or \A) and ends with $ (or \z), in every alternative.
func anchored(pattern string) bool {
	re, err := syntax.Parse(placeholder.ReplaceAllLiteralString(pattern, "h"), syntax.Perl)
	if err != nil {
		return false
	}
	return wholeMatch(re)
}

func wholeMatch(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if !wholeMatch(sub) {
				return false
			}
		}
		return true
	case syntax.OpCapture:
		return wholeMatch(re.Sub[0])
	case syntax.OpConcat:
		return re.Sub[0].Op == syntax.OpBeginText && re.Sub[len(re.Sub)-1].Op == syntax.OpEndText
	}
	return false
}

// allowed reports whether origin may connect to host.
func (p *originPolicy) allowed(host, origin string) bool {
	if p.byDefault {
		rest, ok := strings.CutPrefix(origin, "http://")
		if !ok {
			rest, ok = strings.CutPrefix(origin, "https://")
		}
		return ok && rest == host
	}
	switch {
	case p.slots == 0:
		return p.re.MatchString(origin)
	case host == "":
		return p.noHost.MatchString(origin)
	case strings.Contains(origin, hostMark):
		return false
	case p.slots == 1:
		from := 0
		for try := range maxHostTries {
			i := strings.Index(origin[from:], host)
			if i < 0 {
				// Without the Host the pattern may still match (an
				// alternative that does not name it).
				return try == 0 && p.re.MatchString(origin)
			}
			i += from
			if p.re.MatchString(origin[:i] + hostMark + origin[i+len(host):]) {
				return true
			}
			from = i + 1
		}
	}
	return p.re.MatchString(strings.ReplaceAll(origin, host, hostMark))
}
