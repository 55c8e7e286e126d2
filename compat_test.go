package sockets

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// compatRow is one observed behaviour of the original, run over a real loopback
// socket against this package with a gorilla/websocket v1.5.3 client (or raw
// TCP for the handshake cases).
type compatRow struct {
	id    string // the row, as docs/migration.md numbers the original's behaviours
	check string // what the row checks, in one line
	// original is the original's behaviour where this package deliberately
	// differs (a bug fixed); empty where the behaviour is kept. Every such
	// row has a line in docs/migration.md's differences table.
	original string
	run      func(t *testing.T)
}

// compatTable is the migration guide: each row either pins the original's
// behaviour or states the difference.
var compatTable = []compatRow{
	// 1. HTTP-level rejections.
	{id: "1.1", check: "POST, PUT, OPTIONS and HEAD get 405 `Method not allowed`, before Origin and handshake checks, and the next handler is not called", run: rowMethodNotAllowed},
	{id: "1.2", check: "POST to an m.Get route is Macaron's 404; the middleware never runs", run: rowPostToGetRoute},
	{id: "1.3", check: "a GET without the Connection or Upgrade token gets 400 with the reason; without Origin it gets 403 first", run: rowNotUpgrade},
	{id: "1.4", check: "a bad or missing Sec-WebSocket-Version gets 400 and a Sec-WebSocket-Version: 13 header", original: "400 without the Sec-WebSocket-Version header RFC 6455 4.4 asks for", run: rowBadVersion},
	{id: "1.5", check: "a bad or missing Sec-WebSocket-Key gets 400 with the reason", run: rowBadKey},
	{id: "1.6", check: "offered subprotocols and permessage-deflate are not negotiated; the 101 carries Upgrade, Connection and a correct Accept only, none of the headers earlier middleware set (Set-Cookie, Content-Encoding, Vary, CORS) and no Date", run: rowNoNegotiation},
	{id: "1.7", check: "a frame sent in the same TCP write as the handshake is read as the first message; nothing is written into the hijacked connection", original: "gorilla refused the early frame and closed TCP; a 400 was written into the hijacked connection and lost", run: rowEarlyFrame},

	// 2. Origin check.
	{id: "2.1", check: "a request without Origin gets 403 `Origin not allowed`", run: rowNoOrigin},
	{id: "2.2", check: "http:// and https:// with the request's own host and port get 101", run: rowSameOrigin},
	{id: "2.3", check: "ws://, a missing port, upper case, a trailing slash, another host, null and a suffixed host get 403", run: rowForeignOrigins},
	{id: "2.4", check: "the host is regexp-quoted: origin http://myxsite.com for host my.site.com gets 403", original: "101: the host's dots matched any character", run: rowQuotedHost},
	{id: "2.5", check: "the default pattern is matched whole: evil-http://HOST and http://evil.example/?x=http://HOST get 403 (a user pattern is still searched unanchored, with a Warning at construction: TestUserOriginPatterns)", original: "101: the pattern had no ^", run: rowAnchoredOrigin},
	{id: "2.6", check: "a Host with regexp metacharacters (a(b) works: its own origin gets 101", original: "the pattern failed to compile and every origin got 403", run: rowMetaHost},
	{id: "2.7", check: "a custom AllowedOrigin: allowed.com passes, a missing Origin fails unless .* is used, ^ and $ are honoured, any {{word}} is the host", run: rowCustomOrigin},
	{id: "2.7b", check: "an invalid AllowedOrigin panics when the handler is built", original: "no error at construction; every request got 403", run: rowInvalidOriginPattern},
	{id: "2.8", check: "a rejected Origin is logged with the Origin itself", original: "the log line printed the Host, not the Origin", run: rowOriginLogLine},

	// 3. Injected types.
	{id: "3.1", check: "Messages injects <-chan string and chan<- string (caps 10/10), <-chan error (1), chan<- int (1), <-chan bool (3), and no bidirectional channel", run: rowMessagesTypes},
	{id: "3.2", check: "ByteSliceMessages injects the same five with []byte", run: rowByteSliceTypes},
	{id: "3.3", check: "JSON(T{}) carries *T, JSON(&T{}) **T, JSON(map) *map, JSON(0) *int; chan T is not injected", run: rowJSONTypes},
	{id: "3.4", check: "JSON(Name(\"\")) for a named string type behaves as Messages: string channels, raw payloads", run: rowJSONNamedString},
	{id: "3.5", check: "JSON([]Item{}) behaves as ByteSliceMessages: []byte channels, raw binary frames", run: rowJSONSlice},
	{id: "3.6", check: "a handler parameter that is not injected: Macaron's recovery logs the panic, the socket is closed with 1011, nothing leaks", original: "the socket stayed open and served with no handler behind it; a 500 was written into the hijacked connection", run: rowUninjectedParam},
	{id: "3.7", check: "JSON(nil) panics when the handler is built", original: "101, then a panic, and a socket nobody served", run: rowJSONNil},

	// 4. Frame types.
	{id: "4.1", check: "Messages receives text and binary frames as strings, an empty frame as \"\", a binary frame with invalid UTF-8 unchanged; a text frame with invalid UTF-8 closes with 1007, wschan.ErrInvalidUTF8 before done", original: "a text frame with invalid UTF-8 was delivered and the connection stayed open", run: rowMessagesReceive},
	{id: "4.2", check: "Messages sends each string as one text frame; invalid UTF-8 goes out as U+FFFD, logged once per connection", original: "invalid UTF-8 went out unchanged in a text frame, which browsers must fail the connection for", run: rowMessagesSend},
	{id: "4.3", check: "ByteSliceMessages receives text or binary as []byte (empty: non-nil), sends binary frames (nil and empty: an empty frame)", run: rowByteSliceFrames},
	{id: "4.4", check: "JSON decodes text and binary frames; sends text frames of Encoder output with a trailing newline and HTML escaping; nil is null", run: rowJSONFrames},

	// 5. JSON receive.
	{id: "5.1", check: "unknown fields are ignored, null gives a zero value, only the first of several values is delivered, and the connection stays open", run: rowJSONLenient},
	{id: "5.2", check: "invalid JSON, a wrong type, an empty or blank message: close 1007 with the decoder's message, the error before done, earlier messages delivered", original: "close 1006 on the wire (an illegal code); the error went only to the log; the error channel carried nothing", run: rowJSONInvalid},

	// 6. Sizes.
	{id: "6.1", check: "a message of exactly MaxMessageSize (16, and the 65536 default) is delivered", run: rowSizeExact},
	{id: "6.2", check: "a message one byte over the limit: close 1009, nothing delivered, the cause on the error channel; 0 means 65536", original: "close 1009, but the error channel carried nothing", run: rowSizeOver},
	{id: "6.3", check: "MaxMessageSize limits reads only: the server sends 100 000 bytes with a limit of 16", run: rowSizeSendUnlimited},
	{id: "6.4", check: "a JSON value that cannot be encoded (NaN): no frame, close 1011, the error on the error channel", original: "an empty text frame, then close 1006; no error delivered", run: rowJSONUnencodable},

	// 7. Handler disconnect.
	{id: "7.1", check: "codes 1000, 1001 and 4000 on disconnect: a close frame with that code and an empty reason, and the close handshake is completed", original: "TCP was closed at once, without waiting for the client's close reply", run: rowDisconnectCodes},
	{id: "7.2", check: "1005 sends an empty close frame, 1006 drops without a frame; 0, 5000 and 70000 become 1011 with a Warning", original: "no validation: 0, 1006 and 5000 went on the wire as illegal codes, 70000 as 4464", run: rowDisconnectInvalidCodes},
	{id: "7.3", check: "after a disconnect code: done gives true once and is closed, the error channel is closed without a value", run: rowDisconnectChannels},
	{id: "7.4", check: "after done the sender accepts SendChannelBuffer more values and disconnect one more; the next send blocks", run: rowSendsAfterDone},
	{id: "7.5", check: "every value queued on the sender before the code is written before the close frame, in order, with no goroutine left", original: "0 to 10 of the queued values arrived, at random, and a goroutine leaked in 10-30% of connections", run: rowDisconnectFlushes},

	// 8. Handler closes its sender.
	{id: "8.1", check: "closing the sender writes the queued values, then closes with 1000; no error value", original: "queued values were written, then close 1006 and an Error log line", run: rowSenderClosed},

	// 9. Peer ends the connection.
	{id: "9.1", check: "a client close frame (1000, 1001, 4001 with a reason, empty) is echoed with its code; earlier messages are delivered; normal closes log at Info", original: "the echo had an empty reason; every close was logged at Error level; 4001 put nothing on the error channel", run: rowPeerClose},
	{id: "9.2", check: "a TCP drop without a close frame ends the connection with the cause on the error channel", original: "done fired but the error channel carried nothing", run: rowTCPDrop},
	{id: "9.3", check: "messages still in the receiver when done fires stay readable; the receiver is never closed", run: rowReceiverKept},
	{id: "9.4", check: "the original README's loop (an error branch that logs and goes on, a done branch that returns): the error branch runs at most once per connection, never with a nil error, then the done branch; the error channel closes once done's value is taken", original: "the error channel never carried a value, so the branch never ran", run: rowReadmeLoop},

	// 10. Pings.
	{id: "10.1", check: "one ping per PingPeriod", original: "Messages and ByteSliceMessages sent two pings back to back each period", run: rowOnePingPerPeriod},
	{id: "10.2", check: "a client that never answers pings is dropped PongWait after its last read, without a close frame; the cause on the error channel", original: "close 1006 on the wire (illegal); no error delivered", run: rowSilentPeer},
	{id: "10.3", check: "a client that answers pings and sends nothing stays up", run: rowPongingPeerStays},
	{id: "10.4", check: "a client that ignores pings but keeps sending messages stays up", run: rowTalkingPeerStays},
	{id: "10.5", check: "server writes do not keep a silent peer alive: it is dropped after PongWait", original: "every server write pushed the read deadline, so the dead peer stayed up", run: rowWritesDoNotKeepAlive},
	{id: "10.6", check: "PingPeriod >= PongWait: a silent client is dropped at PongWait, before any ping", run: rowPingAfterPongWait},
	{id: "10.7", check: "defaults: PingPeriod 48 s, PongWait 60 s, WriteWait 60 s", run: rowTimingDefaults},

	// 11. Options and logging.
	{id: "11.1", check: "only the first *Options is used, every zero field takes its default, and options are copied at construction", run: rowOptionMerging},
	{id: "11.2", check: "negative buffer sizes panic when the handler is built; LogLevel -1 logs nothing", original: "101, then a makechan panic and a socket nobody served", run: rowNegativeOptions},
	{id: "11.3", check: "a nil *Options panics when the handler is built, with a clear message", original: "a reflect panic", run: rowNilOptions},
	{id: "11.4", check: "the log format `[sockets] [Level] [addr] message`; a normal session at Info; nothing at Warning; SkipLogging silences", original: "a normal close was logged at Error level, and Debug printed a %!s(<nil>) line per ping", run: rowLogFormat},
	{id: "11.5", check: "WriteWait bounds each write: a client that stops reading ends the connection, with the cause on the error channel", original: "the connection ended but the error channel carried nothing", run: rowWriteStall},

	// 12. Handler contract.
	{id: "12.1", check: "a handler that returns at once leaves the connection open and served: the client's close is echoed, then the middleware returns", run: rowHandlerReturns},
	{id: "12.2", check: "a handler that returns 200, \"OK\" writes nothing into the hijacked connection and net/http logs nothing", original: "Macaron wrote the status into the hijacked connection and net/http logged a warning", run: rowHandlerReturnsStatus},
	{id: "12.3", check: "a handler that returns at once, then 20 messages and a close: the read loop never leaks, and the connection ends once the client leaves", original: "the read goroutine leaked forever", run: rowAbandonedReceiver},
	{id: "12.4", check: "a handler that never reads while the client floods: the receiver buffer then TCP back-pressure bound memory, the peer is not taken for dead, nothing leaks", original: "the read goroutine leaked after the client left", run: rowFloodNotRead},
	{id: "12.5", check: "after the upgrade, every handler after the middleware runs until one writes, as before; ctx.Error, ctx.Redirect, ctx.JSON and ctx.Write write nothing over the socket and nothing is logged", original: "renderer calls and writes went into the hijacked connection, and net/http logged a warning for each", run: rowRenderAfterUpgrade},

	// 13. Race detector.
	{id: "13.1", check: "concurrent echo from many clients on all three kinds, clean under -race", original: "a data race on the write deadline", run: rowConcurrentEcho},

	// The scenarios of the original's own test file, asserting for real.
	{id: "T.1", check: "original test: string, byte-slice and JSON receive and send over one connection each", run: rowOriginalRoundTrips},
	{id: "T.2", check: "original test: default option handling", run: rowTimingDefaults},
	{id: "T.3", check: "original test: allowed and disallowed cross origin", run: rowCrossOrigin},
	{id: "T.4", check: "original test: disallowed methods", run: rowMethodNotAllowed},
}

// TestCompat runs the compatibility table.
func TestCompat(t *testing.T) {
	for _, row := range compatTable {
		t.Run(row.id, func(t *testing.T) {
			checkLeaks(t)
			t.Log(row.check)
			if row.original != "" {
				t.Log("differs from the original, which:", row.original)
			}
			row.run(t)
		})
	}
}

// TestCompatDifferencesInReadme fails when a row that differs from the
// original has no line in docs/migration.md's differences table, or the
// table names a row that does not differ, so the two cannot drift apart.
func TestCompatDifferencesInReadme(t *testing.T) {
	const doc = "docs/migration.md"
	text, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(text), "## Differences from the original")
	if start < 0 {
		t.Fatalf("%s has no \"## Differences from the original\" section", doc)
	}
	section := string(text)[start:]
	if next := strings.Index(section[3:], "\n## "); next >= 0 {
		section = section[:next+3]
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| *([0-9T][0-9a-z.]*) *\|`).FindAllStringSubmatch(section, -1) {
		listed[m[1]] = true
	}
	differs := map[string]bool{}
	for _, row := range compatTable {
		if row.original == "" {
			continue
		}
		differs[row.id] = true
		if !listed[row.id] {
			t.Errorf("row %s differs from the original (%s) but %s's differences table has no line for it", row.id, row.original, doc)
		}
	}
	for id := range listed {
		if !differs[id] {
			t.Errorf("%s's differences table lists %s, which the compatibility table does not mark as a difference", doc, id)
		}
	}
}
