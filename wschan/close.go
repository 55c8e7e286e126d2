package wschan

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// ErrPongTimeout is the cause on the error channel when the peer stayed
// silent (no message and no pong) for longer than PongWait.
var ErrPongTimeout = errors.New("sockets: no message or pong from the peer within PongWait")

// ErrServerShutdown is the cause on the error channel when Options.Context was
// cancelled: the connection was closed with 1001 (going away).
var ErrServerShutdown = errors.New("sockets: closed because the server is shutting down")

// ErrInvalidUTF8 is the cause on the error channel when the peer sent a
// text message that is not valid UTF-8: the connection was closed with 1007
// (RFC 6455 8.1).
var ErrInvalidUTF8 = errors.New("sockets: a text message from the peer is not valid UTF-8")

// maxCloseReason is the longest close reason a close frame can carry.
const maxCloseReason = 123

// action is how the connection is taken down.
type action int

const (
	// actClose sends a close frame and waits, bounded, for the peer's.
	actClose action = iota
	// actDrop closes TCP without a close frame.
	actDrop
)

// EndedBy says who ended a connection.
type EndedBy int

const (
	// EndedByPeer: the peer sent a close frame, or broke the protocol (a
	// bad frame, invalid UTF-8 or JSON, a message over MaxMessageSize).
	EndedByPeer EndedBy = iota + 1
	// EndedByHandler: the handler sent a close code, called Close, or
	// closed its sender.
	EndedByHandler
	// EndedByServer: Options.Context was cancelled (a shutdown), a value
	// could not be encoded, or the handler chain panicked.
	EndedByServer
	// EndedByNetwork: the TCP connection failed or was dropped, a write
	// stalled past WriteWait, or the peer fell silent past PongWait.
	EndedByNetwork
)

// String names who ended the connection.
func (b EndedBy) String() string {
	if b >= EndedByPeer && b <= EndedByNetwork {
		return [...]string{"peer", "handler", "server", "network"}[b-EndedByPeer]
	}
	return fmt.Sprintf("EndedBy(%d)", int(b))
}

// CloseRecord is how a connection ended, as Connection.CloseRecord tells it
// once the connection is over.
type CloseRecord struct {
	// By is who ended the connection.
	By EndedBy
	// Code and Reason are those of the close frame that ended it: the
	// peer's when the peer closed, this server's otherwise. Code is 0
	// when the connection was dropped without a close frame.
	Code   int
	Reason string
	// SentCode and SentReason are the close frame this server sent (its
	// own, or the echo of the peer's); 0 when it sent none.
	SentCode   int
	SentReason string
	// ReceivedCode and ReceivedReason are the close frame the peer sent
	// (the first, or its answer to ours); 0 when none arrived.
	ReceivedCode   int
	ReceivedReason string
	// Clean reports that the closing handshake completed: a close frame
	// went each way.
	Clean bool
	// Cause is what the error channel carried: nil for a normal end.
	Cause error
}

// ending is why and how a connection ends: decided once, by whichever loop
// sees the end first.
type ending struct {
	by         EndedBy
	peerClosed bool // the peer's close frame ended it
	act        action
	code       websocket.StatusCode
	reason     string
	// cause goes on the error channel; nil for a normal end.
	cause error
	// level and msg make the log line, msg followed by detail's text or
	// the code when they are set (see message); msg empty means no line.
	level    int
	msg      string
	detail   error
	withCode bool
}

// message is the ending's log line, built only when it is logged (the
// error texts and the code cost nothing to an ending nobody logs).
func (e *ending) message() string {
	switch {
	case e.detail != nil:
		return e.msg + e.detail.Error()
	case e.withCode:
		return e.msg + strconv.Itoa(int(e.code))
	}
	return e.msg
}

// prefixed is err with a prefix of this package's: what fmt.Errorf(prefix
// + "%w", err) makes, its text built when asked for, not at every end.
type prefixed struct {
	prefix string
	err    error
}

func (e *prefixed) Error() string { return e.prefix + e.err.Error() }
func (e *prefixed) Unwrap() error { return e.err }

// record is the ending as the handler may read it, with the peer's close
// frame if one was read (peer, nil otherwise) and the close frame that went
// on the wire (sent, nil if none did or it was not seen): the transport
// writes some of its own (1009 and 1002 with its reason, 1011 when its
// reason was too long), which then say what the peer read.
func (e *ending) record(peer, sent *websocket.CloseError) *CloseRecord {
	r := &CloseRecord{By: e.by, Code: int(e.code), Reason: e.reason, Cause: e.cause}
	switch {
	case e.peerClosed:
		// The transport echoed the peer's frame, code and reason.
		r.SentCode, r.SentReason = int(e.code), e.reason
	case e.act == actClose:
		r.SentCode, r.SentReason = int(e.code), e.reason
		if sent != nil {
			r.Code, r.Reason = int(sent.Code), sent.Reason
		}
	case e.by != EndedByPeer:
		r.Code, r.Reason = 0, ""
	}
	if sent != nil {
		r.SentCode, r.SentReason = int(sent.Code), sent.Reason
	}
	if peer != nil {
		r.ReceivedCode, r.ReceivedReason = int(peer.Code), peer.Reason
	}
	r.Clean = r.SentCode != 0 && r.ReceivedCode != 0
	return r
}

// closeCode maps a code the handler sent to what goes on the wire: 1006
// drops the connection without a frame (the peer reports 1006, as the
// original's peers saw), 1005 sends an empty close frame, and other codes
// that cannot be sent become 1011, with ok false.
func closeCode(code int) (act action, wire websocket.StatusCode, ok bool) {
	switch {
	case code == int(websocket.StatusAbnormalClosure):
		return actDrop, 0, true
	case code == int(websocket.StatusNoStatusRcvd):
		return actClose, websocket.StatusNoStatusRcvd, true
	case validWireCode(code):
		return actClose, websocket.StatusCode(code), true
	default:
		return actClose, websocket.StatusInternalError, false
	}
}

// validWireCode reports whether code may be sent in a close frame (RFC 6455
// section 7.4 and the IANA registry).
func validWireCode(code int) bool {
	switch {
	case code == 1004, code == 1005, code == 1006, code == 1015:
		return false
	case code >= 1000 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}

// disconnectEnding is the end the handler asked for with code (and reason,
// through CloseWithReason).
func disconnectEnding(code int, reason string) ending {
	act, wire, ok := closeCode(code)
	if wire == websocket.StatusNoStatusRcvd || act == actDrop {
		reason = "" // an empty close frame, or none, carries no reason
	}
	if !ok {
		return ending{by: EndedByHandler, act: act, code: wire, reason: reason, level: LogLevelWarning,
			msg: fmt.Sprintf("Close code %d cannot be sent; closing with %d instead", code, wire)}
	}
	return ending{by: EndedByHandler, act: act, code: wire, reason: reason, level: LogLevelInfo,
		msg: fmt.Sprintf("Closing with code %d, as the handler asked", code)}
}

// senderClosedEnding is the end after the handler closed its sender: a
// normal close, once every value queued before it is written.
func senderClosedEnding() ending {
	return ending{by: EndedByHandler, act: actClose, code: websocket.StatusNormalClosure, level: LogLevelInfo,
		msg: "Sender channel has been closed; closing normally"}
}

// readEnding classifies an error from reading the peer.
func readEnding(err error) ending {
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce):
		// The transport has already echoed the peer's code and closed.
		e := ending{by: EndedByPeer, peerClosed: true, act: actDrop, code: ce.Code, reason: ce.Reason, level: LogLevelInfo,
			msg: "Connection closed by the peer with code ", withCode: true}
		switch ce.Code {
		case websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusNoStatusRcvd:
		default:
			e.cause = &prefixed{"sockets: peer closed the connection: ", err}
			e.level = LogLevelWarning
		}
		return e
	case errors.Is(err, websocket.ErrMessageTooBig):
		// The transport has sent 1009; closing completes the handshake.
		return readFailure(EndedByPeer, actClose, websocket.StatusMessageTooBig, err)
	case isTransportError(err):
		return readFailure(EndedByNetwork, actDrop, 0, err)
	case strings.Contains(err.Error(), "control frame opClose"):
		// An invalid close frame: the transport answered it with 1002, and
		// the peer, having closed, sends nothing more.
		return readFailure(EndedByPeer, actDrop, websocket.StatusProtocolError, err)
	default:
		// A protocol violation by the peer.
		return readFailure(EndedByPeer, actClose, websocket.StatusProtocolError, err)
	}
}

// readFailure is the end after reading failed with err.
func readFailure(by EndedBy, act action, code websocket.StatusCode, err error) ending {
	return ending{by: by, act: act, code: code, level: LogLevelError,
		cause: &prefixed{"sockets: read: ", err}, msg: "Error reading from socket: ", detail: err}
}

// decodeEnding is the end after a message that does not decode: 1007 with the
// decoder's message as the reason.
func decodeEnding(err error) ending {
	return ending{by: EndedByPeer, act: actClose, code: websocket.StatusInvalidFramePayloadData,
		reason: truncateReason(err.Error()), level: LogLevelError,
		cause: &prefixed{"sockets: ", err}, msg: "Error decoding message: ", detail: err}
}

// invalidUTF8Ending is the end after a text message that is not valid
// UTF-8: 1007, after every message before it was delivered.
func invalidUTF8Ending() ending {
	return ending{by: EndedByPeer, act: actClose, code: websocket.StatusInvalidFramePayloadData, reason: "invalid UTF-8 in a text message",
		level: LogLevelError, cause: ErrInvalidUTF8, msg: ErrInvalidUTF8.Error()}
}

// encodeEnding is the end after a sender value that cannot be encoded: 1011,
// and no frame for the value.
func encodeEnding(err error) ending {
	return ending{by: EndedByServer, act: actClose, code: websocket.StatusInternalError, level: LogLevelError,
		cause: &prefixed{"sockets: ", err}, msg: "Error encoding message: ", detail: err}
}

// writeEnding is the end after a failed or stalled write: the socket cannot
// carry a close frame any more, so it is dropped.
func writeEnding(err error) ending {
	return ending{by: EndedByNetwork, act: actDrop, level: LogLevelError,
		cause: &prefixed{"sockets: write: ", err}, msg: "Error writing to socket: ", detail: err}
}

// silentPeerEnding is the end of a peer that stayed silent past PongWait.
func silentPeerEnding() ending {
	return ending{by: EndedByNetwork, act: actDrop, level: LogLevelError, cause: ErrPongTimeout, msg: ErrPongTimeout.Error()}
}

// shutdownEnding is the end when Options.Context is cancelled.
func shutdownEnding() ending {
	return ending{by: EndedByServer, act: actClose, code: websocket.StatusGoingAway, reason: "server shutting down",
		level: LogLevelInfo, cause: ErrServerShutdown, msg: "Closing: the server is shutting down"}
}

// panicEnding is the end when the handler chain panicked after the upgrade.
func panicEnding() ending {
	return ending{by: EndedByServer, act: actClose, code: websocket.StatusInternalError, level: LogLevelError,
		msg: "The handler chain panicked; closing with 1011"}
}

// isTransportError reports whether err comes from the TCP connection rather
// than from what the peer sent: a reset, an EOF, a timeout, a closed socket.
func isTransportError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed)
}

// truncateReason cuts s to what a close frame can carry, on a UTF-8
// boundary.
func truncateReason(s string) string {
	if len(s) <= maxCloseReason {
		return s
	}
	s = s[:maxCloseReason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
