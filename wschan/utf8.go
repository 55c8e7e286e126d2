package wschan

import "unicode/utf8"

// toValidUTF8 returns a copy of p in which each byte that does not start a
// valid UTF-8 sequence is replaced by U+FFFD, as a for-range loop over a Go
// string decodes it.
func toValidUTF8(p []byte) []byte {
	out := make([]byte, 0, len(p)+len(p)/2)
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, p[:n]...)
		}
		p = p[n:]
	}
	return out
}
