package wschan

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzOriginPattern: a user pattern with {{host}}, matched through the host
// mark, gives what the pattern with the host quoted in gives, and never
// admits an Origin that one would not.
func FuzzOriginPattern(f *testing.F) {
	for _, seed := range [][2]string{
		{"example.com", "http://example.com"}, {"p", "http://p"}, {"http", "http://http"},
		{"a(b", "https://a(b"}, {"x.com", "evil-http://x.com"}, {"ab", "http://abab"},
	} {
		f.Add(seed[0], seed[1])
	}
	patterns := []string{`^https?://{{host}}$`, `http://{{host}}$`, `^https?://(www\.)?{{host}}(/.*)?$`, `^http://.{{host}}$`}
	policies := make([]*originPolicy, len(patterns))
	for i, p := range patterns {
		policies[i] = newOriginPolicy(p, func(string, ...any) {})
	}
	f.Fuzz(func(t *testing.T, host, origin string) {
		if host == "" || strings.Contains(origin, hostMark) || !utf8.ValidString(host) {
			return // no reference: the quoted pattern would not compile
		}
		for i, p := range policies {
			quoted := regexp.MustCompile(strings.ReplaceAll(patterns[i], "{{host}}", regexp.QuoteMeta(host)))
			got, want := p.allowed(host, origin), quoted.MatchString(origin)
			if got && !want || got != want && strings.Count(origin, host) <= maxHostTries {
				t.Fatalf("pattern %s, host %q, origin %q: allowed %v, the quoted pattern says %v", patterns[i], host, origin, got, want)
			}
		}
	})
}

// BenchmarkOriginCheck: the origin check costs the same whatever the size
// of the Host header (compare the huge-host runs with the normal ones).
func BenchmarkOriginCheck(b *testing.B) {
	huge := strings.Repeat("a", 1<<20-1024)
	for _, pattern := range []string{defaultAllowedOrigin, `^https?://{{host}}$`} {
		policy := newOriginPolicy(pattern, b.Fatalf)
		for _, host := range []string{"app.example.com:8080", huge} {
			b.Run(fmt.Sprintf("pattern=%s/host=%dB", pattern, len(host)), func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if policy.allowed(host, "http://evil.example") {
						b.Fatal("allowed")
					}
				}
			})
		}
	}
}

// TestOriginTable: under the default AllowedOrigin only the request's own
// host, over http or https, passes.
func TestOriginTable(t *testing.T) {
	policy := newOriginPolicy(defaultAllowedOrigin, t.Errorf)
	hosts := []string{"example.com", "example.com:8080", "[::1]:8080", "127.0.0.1:4000", "app.example.com", "xn--bcher-kva.example"}
	for _, host := range hosts {
		for _, origin := range []string{"http://" + host, "https://" + host} {
			if !policy.allowed(host, origin) {
				t.Errorf("host %s: %q rejected", host, origin)
			}
		}
		name := strings.Split(strings.TrimPrefix(host, "["), ":")[0]
		rejected := []string{
			"", "null", " http://" + host, "http://" + host + " ", "http://" + host + "\n",
			"http://" + strings.ToUpper(host), "HTTP://" + host, "http://" + host + "/", "http://" + host + ".",
			"http://" + host + ":1", "ws://" + host, "wss://" + host, "file://" + host, "ftp://" + host,
			"javascript://" + host, "http://user@" + host, "http://" + host + "@evil.example",
			"http://evil.example/http://" + host, "evil-http://" + host, "http://" + host + ".evil.example",
			"http://x" + host, "http://" + name, "http://" + strings.ReplaceAll(host, ".", "x"),
			"http://" + strings.ReplaceAll(host, ".", "-"),
		}
		for _, origin := range rejected {
			if origin == "http://"+host || origin == "https://"+host {
				continue // a transformation that changed nothing
			}
			if policy.allowed(host, origin) {
				t.Errorf("host %s: %q accepted", host, origin)
			}
		}
	}
}
